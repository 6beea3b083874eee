"""Timeline charts: one series per network, bars per bucket, events shaded, text escaped."""

from __future__ import annotations

from datetime import datetime, timedelta

from blockwatch.web.charts import Shade, build_series, timeline_svg

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
