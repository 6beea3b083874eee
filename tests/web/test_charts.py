"""Timeline charts: one series per network, bars per bucket, events shaded, text escaped."""

from __future__ import annotations

import itertools
import math
import re
from datetime import datetime, timedelta
from html import unescape

import pytest

from blockwatch.analysis.records import METHODS
from blockwatch.web.charts import (
    CHAR_W,
    DOWN_COLOUR,
    LEFT,
    NARROW_W,
    OTHER_COLOUR,
    RIGHT,
    Shade,
    W,
    build_series,
    method_colour,
    timeline_svg,
)

T0 = datetime(2024, 2, 17)


def _rows() -> list[dict]:
    return [
        {"series": "AS1", "bucket": T0, "outcome": "blocked", "method": "dns.nxdomain", "n": 3},
        {"series": "AS1", "bucket": T0, "outcome": "ok", "method": None, "n": 1},
        {
            "series": "AS2",
            "bucket": T0 + timedelta(days=1),
            "outcome": "down",
            "method": None,
            "n": 2,
        },
    ]


def test_rows_fold_into_one_series_per_network_with_blocked_share() -> None:
    series = build_series(_rows(), {})
    assert [s.name for s in series] == ["AS1", "AS2"]
    assert series[0].buckets[0].blocked_share == 0.75
    assert series[0].buckets[0].methods == {"dns.nxdomain": 3}
    assert series[1].buckets[0].outcomes == {"down": 2}


def test_svg_colours_bars_by_method_and_shades_events_with_dates_and_availability() -> None:
    shade = Shade(T0, T0 + timedelta(days=1), "censorship", 0.2, "ev1")
    s = build_series(_rows(), {"AS1": [shade]})[0]
    svg = timeline_svg(s, T0, T0 + timedelta(days=2), timedelta(hours=6))
    assert 'data-method="dns.nxdomain"' in svg
    assert "event 2024-02-17 → 2024-02-18 · availability 20%" in svg
    assert 'class="shade-event"' in svg


def test_outages_are_shaded_as_outages_not_events() -> None:
    shade = Shade(T0, None, "outage", 0.0, "o1")
    s = build_series(_rows(), {"AS2": [shade]})[1]
    svg = timeline_svg(s, T0, T0 + timedelta(days=2), timedelta(days=1))
    assert 'class="shade-outage"' in svg and "shade-event" not in svg
    assert "outage 2024-02-17 → ongoing" in svg


def test_measured_text_in_the_svg_is_escaped() -> None:
    rows = [
        {
            "series": '<script>x</script>"',
            "bucket": T0,
            "outcome": "blocked",
            "method": "<b>evil</b>",
            "n": 1,
        }
    ]
    shade = Shade(T0, None, "censorship", 0.0, '"><script>y</script>')
    s = build_series(rows, {'<script>x</script>"': [shade]})[0]
    svg = timeline_svg(s, T0, T0 + timedelta(days=1), timedelta(hours=1))
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;x&lt;/script&gt;&quot;" in svg


def test_a_volume_line_follows_the_measurements_per_bucket() -> None:
    rows = [
        {"series": "AS1", "bucket": T0 + timedelta(days=d), "outcome": "ok", "method": None, "n": n}
        for d, n in ((0, 10), (1, 5))
    ]
    svg = timeline_svg(build_series(rows, {})[0], T0, T0 + timedelta(days=2), timedelta(days=1))
    assert 'class="volume"' in svg and "(max 10)" in svg


def _lab(colour: str) -> tuple[float, float, float]:
    """CIE L*a*b* of an sRGB colour (D65), to measure how far apart two colours look."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92 for c in rgb]
    xyz = (
        (r * 0.4124 + g * 0.3576 + b * 0.1805) / 0.95047,
        r * 0.2126 + g * 0.7152 + b * 0.0722,
        (r * 0.0193 + g * 0.1192 + b * 0.9505) / 1.08883,
    )
    fx, fy, fz = [v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116 for v in xyz]
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def test_every_method_has_a_colour_of_its_own() -> None:
    colours = {m: method_colour(m) for m in METHODS}
    assert OTHER_COLOUR not in colours.values()
    named = {**colours, "down": DOWN_COLOUR, "other": OTHER_COLOUR}
    for (a, ca), (b, cb) in itertools.combinations(named.items(), 2):
        # CIE76 distance: about 2 is just noticeable; 15 is plainly another colour.
        assert math.dist(_lab(ca), _lab(cb)) >= 15, (a, b, ca, cb)
    assert colours["dns.blockpage_ip"] != colours["tls.reset"]


def _boxes(svg: str) -> list[tuple[float, float, float]]:
    """(x_start, x_end, baseline) of each event label, widths as the layout estimates them."""
    out = []
    for x, y, text in re.findall(r'<text x="([\d.]+)" y="(\d+)" class="shade-label">([^<]*)', svg):
        width = len(unescape(text)) * CHAR_W
        out.append((float(x), float(x) + width, float(y)))
    return out


@pytest.mark.parametrize("width", [W, NARROW_W])
def test_event_labels_are_spread_over_lanes_shortened_or_left_out_never_stacked(
    width: int,
) -> None:
    shades = [
        Shade(T0 + timedelta(hours=9 * i), T0 + timedelta(hours=9 * i + 6), "censorship", 0.5,
              f"ev{i}")
        for i in range(8)
    ]  # fmt: skip
    s = build_series(_rows(), {"AS1": shades})[0]
    svg = timeline_svg(s, T0, T0 + timedelta(days=4), timedelta(hours=6), width)
    boxes = _boxes(svg)
    assert boxes, "no label placed at all"
    for a, b in itertools.combinations(boxes, 2):
        if a[2] == b[2]:
            assert a[1] <= b[0] or b[1] <= a[0], (a, b)
    assert all(x0 >= LEFT and x1 <= width for x0, x1, _ in boxes)
    assert svg.count("<title>event ") == 8  # every event keeps its full label as a tooltip


def test_the_last_bar_is_clipped_at_the_end_of_the_data() -> None:
    s = build_series(_rows(), {})[1]  # one bucket starting a day after T0
    svg = timeline_svg(s, T0, T0 + timedelta(days=1, hours=2), timedelta(days=1))
    xs = [
        (float(x), float(w))
        for x, w in re.findall(r'<rect class="hit" x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    ]
    assert xs and all(x + w <= W - RIGHT + 0.05 for x, w in xs), xs


def test_a_dict_field_reads_as_its_key_and_dict_methods_still_work() -> None:
    from blockwatch.web.render import make_templates

    env = make_templates()
    page = env.from_string(
        "{{ d.n }}|{{ d.missing }}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"
    )
    # Measured data may hold keys named like dict methods (a response header "items"):
    # the method stays the method, the key is still shown by the loop.
    assert page.render(d={"n": 3, "items": "hdr"}) == "3||n=3;items=hdr;"
