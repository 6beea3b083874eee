"""Timeline charts as inline SVG, drawn server-side: no JavaScript, nothing fetched.

One chart per network: a bar per time bucket whose height is the blocked share, stacked by
method colour, the share of "down" (site or network unreachable for the control too) in grey
above it, and events shaded behind (censorship in red, outages in blue-grey, each labelled
with its dates and availability). Every piece of text comes from measured data and is
escaped here, because templates insert the SVG as markup.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any, Final

from blockwatch.times import day_text, minute_text, shift

# One colour per method, told apart by hue and lightness (no two browns, reds or greys):
# the DNS methods warm, TCP blue, TLS brown/violet, HTTP green/purple. A method missing here
# is drawn in OTHER_COLOUR.
METHOD_COLOURS: Final[dict[str, str]] = {
    "dns.nxdomain": "#d62728",
    "dns.bogon": "#ff7f0e",
    "dns.blockpage_ip": "#e377c2",
    "dns.inconsistent": "#ffbb78",
    "dns.timeout": "#bcbd22",
    "tcp.timeout": "#17becf",
    "tcp.reset": "#1f77b4",
    "tls.reset": "#8c564b",
    "tls.timeout": "#c5b0d5",
    "tls.mitm": "#393b79",
    "http.blockpage": "#9467bd",
    "http.reset": "#2ca02c",
    "http.timeout": "#98df8a",
    "http.diff": "#7b4173",
    "throttled": "#637939",
    "dpi.handshake": "#e7ba52",
}
OTHER_COLOUR = "#555555"
DOWN_COLOUR = "#9e9e9e"
W, H = 900, 150
# The chart a phone shows (CSS picks one): drawn narrower so its text stays legible.
NARROW_W = 400
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 32, 22
FONT = 10  # px of chart text, in the chart's own units
# A generous average glyph width for the chart's font (DejaVu Sans digits are 0.64 em), so
# labels laid out with it never touch once drawn.
CHAR_W = 0.68 * FONT
LANES = (TOP - 4, TOP - 16)  # baselines of the event labels above the plot


def method_colour(method: str | None) -> str:
    return METHOD_COLOURS.get(method or "", OTHER_COLOUR)


class Bucket:
    """One time bucket of a series: counts per outcome, and per method of the blocked ones.
    (A plain class with dicts: a page builds thousands, and a dataclass of Counters took a
    tenth of a domain page's time just to create them.)"""

    __slots__ = ("drawn", "methods", "n", "outcomes", "start")

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.n = 0
        self.outcomes: dict[str, int] = {}
        self.methods: dict[str, int] = {}
        # (layers, escaped tooltip) once drawn: a page draws each chart twice (wide, narrow).
        self.drawn: tuple[list[tuple[str, int, str]], str] | None = None

    @property
    def blocked_share(self) -> float:
        return self.outcomes.get("blocked", 0) / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class Shade:
    """An event drawn behind a series."""

    start: datetime
    end: datetime | None
    kind: str
    availability: float
    event_id: str


@dataclass(slots=True)
class Series:
    name: str
    buckets: list[Bucket] = field(default_factory=list)
    shades: list[Shade] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.name,
            "buckets": [
                {
                    "start": b.start,
                    "n": b.n,
                    "blocked_share": round(b.blocked_share, 4),
                    "outcomes": dict(b.outcomes),
                    "methods": dict(b.methods),
                }
                for b in self.buckets
            ],
            "events": [
                {
                    "event_id": s.event_id,
                    "kind": s.kind,
                    "start": s.start,
                    "end": s.end,
                    "availability": s.availability,
                }
                for s in self.shades
            ],
        }


def build_series(rows: list[dict[str, Any]], shades: dict[str, list[Shade]]) -> list[Series]:
    """Fold (series, bucket, outcome, method, n) rows into one Series per network."""
    by_name: dict[str, dict[datetime, Bucket]] = {}
    for r in rows:
        buckets = by_name.setdefault(r["series"], {})
        at, outcome, n = r["bucket"], r["outcome"], r["n"]
        b = buckets.get(at)
        if b is None:
            b = buckets[at] = Bucket(at)
        b.n += n
        b.outcomes[outcome] = b.outcomes.get(outcome, 0) + n
        if outcome == "blocked":
            method = r["method"] or "unknown"
            b.methods[method] = b.methods.get(method, 0) + n
    out = []
    for name in sorted(by_name):
        ordered = [by_name[name][k] for k in sorted(by_name[name])]
        out.append(Series(name, ordered, sorted(shades.get(name, []), key=lambda s: s.start)))
    return out


def _ticks(t0: datetime, t1: datetime, count: int = 6) -> list[datetime]:
    step = (t1 - t0) / count
    # Held at t1: rounding may carry the last tick past it, and past 9999 if t1 is the end.
    return [min(shift(t0, step * i), t1) for i in range(count + 1)]


def _fmt(t: datetime, span: timedelta) -> str:
    return minute_text(t) if span <= timedelta(days=3) else day_text(t)


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where a chart's times and shares land on its plot."""

    t0: datetime
    t1: datetime
    span: timedelta
    width: int = W
    ph: float = H - TOP - BOTTOM
    pw: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pw", self.width - LEFT - RIGHT)

    def x(self, t: datetime) -> float:
        frac = (t - self.t0) / self.span
        return LEFT + max(0.0, min(1.0, frac)) * self.pw


def timeline_svg(
    series: Series, t0: datetime, t1: datetime, bucket: timedelta, width: int = W
) -> str:
    """One network's chart as an <svg> string (all text escaped), ``width`` units wide: the
    plot ends with the data (t1), and no piece of text overlaps another."""
    fr = _Frame(t0, t1, max(t1 - t0, timedelta(seconds=1)), width)
    name = escape(series.name)
    cls = "timeline" if width == W else "timeline-narrow"
    out = [
        f'<svg class="{cls}" data-network="{name}" viewBox="0 0 {width} {H}" width="100%"'
        f' role="img" aria-label="blocked share over time on {name}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>Blocked share per {escape(_bucket_word(bucket))} on {name}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{fr.pw:g}" height="{fr.ph:g}" class="plot"/>',
    ]
    out += _shades(series.shades, fr)
    bw = max(fr.pw * (bucket / fr.span), 1.0)
    gap = 1.0 if bw > 4 else 0.0
    xs = [fr.x(b.start) for b in series.buckets]
    out += _bars(series.buckets, xs, fr, bw - gap)
    out += _volume(series.buckets, xs, fr, bw - gap)
    out += _axes(fr)
    out.append("</svg>")
    return "".join(out)


def _text_width(text: str) -> float:
    return len(text) * CHAR_W


def _labels(s: Shade) -> list[str]:
    """An event's label, longest first: the layout takes the first that fits."""
    start = day_text(s.start)
    end = day_text(s.end) if s.end else "ongoing"
    word = "outage" if s.kind == "outage" else "event"
    return [
        f"{word} {start} → {end} · availability {s.availability:.0%}",
        f"{word} {start} → {end} · {s.availability:.0%}",
        f"{start} → {end}",
        f"{s.availability:.0%}",
    ]


def _place(want: float, text: str, fr: _Frame, lanes: list[list[tuple[float, float]]]) -> (
    tuple[float, int] | None
):  # fmt: skip
    """(x, lane) for a label that starts near ``want`` and overlaps no label already placed
    (kept inside the chart), or None when there is no room."""
    w = _text_width(text)
    x = max(LEFT + 2.0, min(want, fr.width - RIGHT - w))
    if x + w > fr.width - 1:
        return None
    for i, taken in enumerate(lanes):
        if all(x + w + 4 <= a or x >= b + 4 for a, b in taken):
            taken.append((x, x + w))
            return x, i
    return None


def _shades(shades: list[Shade], fr: _Frame) -> list[str]:
    """Events behind the bars, each labelled with its dates and availability above the plot
    in one of two lanes; a label is shortened, then left out (its tooltip stays), rather
    than drawn over another."""
    lanes: list[list[tuple[float, float]]] = [[] for _ in LANES]
    out = []
    for s in sorted(shades, key=lambda s: s.start):
        xs, xe = fr.x(s.start), fr.x(s.end or fr.t1)
        cls = "shade-outage" if s.kind == "outage" else "shade-event"
        labels = _labels(s)
        label = ""
        for text in labels:
            spot = _place(xs + 2, text, fr, lanes)
            if spot is not None:
                x, lane = spot
                label = (
                    f'<text x="{x:.1f}" y="{LANES[lane]}" class="shade-label">{escape(text)}</text>'
                )
                break
        out.append(
            f'<g class="{cls}" data-event="{escape(s.event_id)}"'
            f' data-start="{s.start.isoformat()}" data-end="{s.end.isoformat() if s.end else ""}">'
            f'<rect x="{xs:.1f}" y="{TOP}" width="{max(xe - xs, 1.5):.1f}" height="{fr.ph:g}"/>'
            f"<title>{escape(labels[0])}</title>{label}</g>"
        )
    return out


@functools.lru_cache(maxsize=256)
def _method_attrs(method: str) -> str:
    """A method layer's attributes (the same few methods recur in every bar of a page)."""
    return f'fill="{method_colour(method)}" data-method="{escape(method)}"'


def _drawn(b: Bucket) -> tuple[list[tuple[str, int, str]], str]:
    """A bucket's layers (method or "down", count, attributes) and its escaped tooltip."""
    if b.drawn is None:
        # Most measurements first, ties in the order met (as Counter.most_common ranks).
        by_count = sorted(b.methods.items(), key=lambda mk: -mk[1])
        layers = [(m, k, _method_attrs(m)) for m, k in by_count]
        if down := b.outcomes.get("down", 0):
            layers.append(("down", down, f'fill="{DOWN_COLOUR}" class="down"'))
        tip = [
            f"{b.start.isoformat(sep=' ', timespec='minutes')}: {b.n} measurements,"
            f" {b.blocked_share:.0%} blocked",
            *(f"{label}: {k}" for label, k, _ in layers),
        ]
        b.drawn = (layers, escape("; ".join(tip)))
    return b.drawn


def _bars(buckets: list[Bucket], xs: list[float], fr: _Frame, width: float) -> list[str]:
    """One bar per measured bucket (starting at ``xs``): the blocked share stacked by method,
    "down" above it, and a tooltip. (A page draws thousands: the loop is kept tight.)"""
    out: list[str] = []
    ph, base, right = fr.ph, TOP + fr.ph, LEFT + fr.pw
    measured = f'y="{base - 3:g}"'
    hit = f'y="{TOP}"'
    full = f'height="{ph:g}"'
    for b, bx in zip(buckets, xs, strict=True):
        if not b.n:
            continue
        w = min(width, right - bx)  # the last bucket may reach past the data's end
        if w <= 0:
            continue
        layers, title = _drawn(b)
        at = f'x="{bx:.1f}"'
        wide = f'width="{w:.1f}"'
        out.append(f'<rect class="measured" {at} {measured} {wide} height="3"/>')
        y = base
        for _, k, attrs in layers:
            h = ph * k / b.n
            y -= h
            out.append(f'<rect {at} y="{y:.1f}" {wide} height="{h:.1f}" {attrs}/>')
        out.append(f'<rect class="hit" {at} {hit} {wide} {full}><title>{title}</title></rect>')
    return out


def _volume(buckets: list[Bucket], xs: list[float], fr: _Frame, width: float) -> list[str]:
    """Measurement volume, relative to the busiest bucket: a collapse in volume is itself a
    signal (a shutdown, a probe gone), and a "0% blocked" bar on 1 measurement is weak."""
    busiest = max((b.n for b in buckets), default=0)
    if not busiest:
        return []
    half, ph = width / 2, fr.ph
    pts = " ".join(
        f"{x + half:.1f},{TOP + ph * (1 - b.n / busiest):.1f}"
        for b, x in zip(buckets, xs, strict=True)
    )
    return [
        f'<polyline class="volume" points="{pts}"><title>measurements per bucket'
        f" (max {busiest})</title></polyline>"
    ]


def _axes(fr: _Frame) -> list[str]:
    out = []
    for frac, label in ((0.0, "0%"), (0.5, "50%"), (1.0, "100%")):
        yy = TOP + fr.ph * (1 - frac)
        out.append(f'<text x="{LEFT - 4}" y="{yy + 4:.1f}" class="ylab">{label}</text>')
    sample = _fmt(fr.t0, fr.span)
    # The outer labels hug the plot's edges, the inner ones are centred on their tick: the
    # ticks are spaced so that neighbours never touch.
    count = max(1, min(6, int(fr.pw // (1.5 * _text_width(sample) + 8))))
    ticks = _ticks(fr.t0, fr.t1, count)
    for i, t in enumerate(ticks):
        anchor = "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"
        out.append(
            f'<text x="{fr.x(t):.1f}" y="{H - 6}" class="xlab" text-anchor="{anchor}">'
            f"{escape(_fmt(t, fr.span))}</text>"
        )
    return out


def _bucket_word(bucket: timedelta) -> str:
    if bucket >= timedelta(days=1):
        days = bucket.days
        return "day" if days == 1 else f"{days} days"
    hours = int(bucket.total_seconds() // 3600)
    return "hour" if hours == 1 else f"{hours} hours"


def legend_svg(methods: list[str]) -> str:
    """A small legend for the methods that appear, plus "down"."""
    items = [*methods, "down"]
    width = 150 * len(items)
    out = [
        f'<svg class="legend" viewBox="0 0 {width} 20" width="{width}" height="20"'
        ' xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, m in enumerate(items):
        colour = DOWN_COLOUR if m == "down" else method_colour(m)
        out.append(
            f'<rect x="{i * 150}" y="4" width="12" height="12" fill="{colour}"/>'
            f'<text x="{i * 150 + 16}" y="14">{escape(m)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def legend_html(methods: list[str]) -> str:
    """The legend as HTML that wraps on a narrow screen: a colour square and a name each
    (the squares are SVG: the pages' CSP allows no inline style)."""
    items = [*methods, "down"]
    out = ['<ul class="legend">']
    for m in items:
        colour = DOWN_COLOUR if m == "down" else method_colour(m)
        out.append(
            f'<li><svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">'
            f'<rect width="12" height="12" fill="{colour}"/></svg> {escape(m)}</li>'
        )
    out.append("</ul>")
    return "".join(out)
