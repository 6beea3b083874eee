"""Timeline charts as inline SVG, drawn server-side: no JavaScript, nothing fetched.

One chart per network: a bar per time bucket whose height is the blocked share, stacked by
method colour, the share of "down" (site or network unreachable for the control too) in grey
above it, and events shaded behind (censorship in red, outages in blue-grey, each labelled
with its dates and availability). Every piece of text comes from measured data and is
escaped here, because templates insert the SVG as markup.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any

from blockwatch.analysis.records import METHODS
from blockwatch.times import shift

_PALETTE = (
    "#d62728",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#9467bd",
    "#1f77b4",
    "#7f3b08",
    "#b35806",
    "#e08214",
    "#542788",
    "#2d004b",
    "#c51b7d",
    "#4d9221",
    "#01665e",
)
METHOD_COLOURS = dict(zip(METHODS, _PALETTE, strict=True))
OTHER_COLOUR = "#555555"
DOWN_COLOUR = "#9e9e9e"
W, H = 900, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 30, 22


def method_colour(method: str | None) -> str:
    return METHOD_COLOURS.get(method or "", OTHER_COLOUR)


@dataclass(slots=True)
class Bucket:
    start: datetime
    n: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)

    @property
    def blocked_share(self) -> float:
        return self.outcomes["blocked"] / self.n if self.n else 0.0


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
        b = buckets.get(r["bucket"])
        if b is None:
            b = buckets[r["bucket"]] = Bucket(r["bucket"])
        b.n += r["n"]
        b.outcomes[r["outcome"]] += r["n"]
        if r["outcome"] == "blocked":
            b.methods[r["method"] or "unknown"] += r["n"]
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
    return t.strftime("%Y-%m-%d %H:%M") if span <= timedelta(days=3) else t.strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where a chart's times and shares land on its plot."""

    t0: datetime
    t1: datetime
    span: timedelta
    pw: float = W - LEFT - RIGHT
    ph: float = H - TOP - BOTTOM

    def x(self, t: datetime) -> float:
        frac = (t - self.t0) / self.span
        return LEFT + max(0.0, min(1.0, frac)) * self.pw


def timeline_svg(series: Series, t0: datetime, t1: datetime, bucket: timedelta) -> str:
    """One network's chart as an <svg> string (all text escaped)."""
    fr = _Frame(t0, t1, max(t1 - t0, timedelta(seconds=1)))
    name = escape(series.name)
    out = [
        f'<svg class="timeline" data-network="{name}" viewBox="0 0 {W} {H}" width="100%"'
        f' role="img" aria-label="blocked share over time on {name}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>Blocked share per {escape(_bucket_word(bucket))} on {name}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{fr.pw:g}" height="{fr.ph:g}" class="plot"/>',
    ]
    out += [_shade(s, fr) for s in series.shades]
    bw = max(fr.pw * (bucket / fr.span), 1.0)
    gap = 1.0 if bw > 4 else 0.0
    for b in series.buckets:
        if b.n:
            out += _bar(b, fr, bw - gap)
    out += _volume(series, fr, bw - gap)
    out += _axes(fr)
    out.append("</svg>")
    return "".join(out)


def _shade(s: Shade, fr: _Frame) -> str:
    """An event behind the bars, labelled with its dates and availability."""
    xs, xe = fr.x(s.start), fr.x(s.end or fr.t1)
    cls = "shade-outage" if s.kind == "outage" else "shade-event"
    end_txt = s.end.strftime("%Y-%m-%d") if s.end else "ongoing"
    word = "outage" if s.kind == "outage" else "event"
    label = f"{word} {s.start.strftime('%Y-%m-%d')} → {end_txt} · availability {s.availability:.0%}"
    return (
        f'<g class="{cls}" data-event="{escape(s.event_id)}"'
        f' data-start="{s.start.isoformat()}" data-end="{s.end.isoformat() if s.end else ""}">'
        f'<rect x="{xs:.1f}" y="{TOP}" width="{max(xe - xs, 1.5):.1f}" height="{fr.ph:g}"/>'
        f"<title>{escape(label)}</title>"
        f'<text x="{xs + 2:.1f}" y="{TOP - 4}" class="shade-label">{escape(label)}</text></g>'
    )


def _bar(b: Bucket, fr: _Frame, width: float) -> list[str]:
    """One bucket: blocked share stacked by method, "down" above it, and a tooltip."""
    bx = fr.x(b.start)
    y = TOP + fr.ph
    out = [
        f'<rect class="measured" x="{bx:.1f}" y="{TOP + fr.ph - 3:g}" width="{width:.1f}"'
        ' height="3"/>'
    ]
    tip = [
        f"{b.start.isoformat(sep=' ', timespec='minutes')}: {b.n} measurements,"
        f" {b.blocked_share:.0%} blocked"
    ]
    layers = [(m, k, f'fill="{method_colour(m)}" data-method="{escape(m)}"') for m, k in
              b.methods.most_common()]  # fmt: skip
    if b.outcomes["down"]:
        layers.append(("down", b.outcomes["down"], f'fill="{DOWN_COLOUR}" class="down"'))
    for label, k, attrs in layers:
        h = fr.ph * k / b.n
        y -= h
        out.append(f'<rect x="{bx:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" {attrs}/>')
        tip.append(f"{label}: {k}")
    out.append(
        f'<rect class="hit" x="{bx:.1f}" y="{TOP}" width="{width:.1f}" height="{fr.ph:g}">'
        f"<title>{escape('; '.join(tip))}</title></rect>"
    )
    return out


def _volume(series: Series, fr: _Frame, width: float) -> list[str]:
    """Measurement volume, relative to the busiest bucket: a collapse in volume is itself a
    signal (a shutdown, a probe gone), and a "0% blocked" bar on 1 measurement is weak."""
    busiest = max((b.n for b in series.buckets), default=0)
    if not busiest:
        return []
    pts = " ".join(
        f"{fr.x(b.start) + width / 2:.1f},{TOP + fr.ph * (1 - b.n / busiest):.1f}"
        for b in series.buckets
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
    ticks = _ticks(fr.t0, fr.t1)
    for i, t in enumerate(ticks):
        # The outer labels hug the plot's edges so they are not cut off.
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
