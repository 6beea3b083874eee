"""Annotations on a timeline: a strip of dated marks drawn on the charts' time axis.

The strip has the charts' width and margins (web/charts.py), so a mark stands above the bars
of its date. Titles come from imported files: untrusted, escaped here because templates insert
the SVG as markup.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any, Final

from blockwatch.analysis.records import Annotation
from blockwatch.times import day_text, naive_utc
from blockwatch.web.charts import LEFT, RIGHT, W

__all__ = ["annotation_rows", "annotations_svg"]

H: Final = 46
LABEL_CHARS: Final = 38


def annotation_rows(items: list[Annotation]) -> list[dict[str, Any]]:
    """Annotations as a page and the API show them (times naive UTC, like every row)."""
    return [
        {
            "annotation_id": a.annotation_id,
            "start": naive_utc(a.start),
            "end": naive_utc(a.end) if a.end else None,
            "probe_cc": a.probe_cc,
            "domains": list(a.domains),
            "title": a.title,
            "text": a.text,
            "url": a.url,
            "source": a.source,
        }
        for a in items
    ]


def annotations_svg(rows: list[dict[str, Any]], t0: datetime | None, t1: datetime | None) -> str:
    """The marks of the annotations dated within [t0, t1] (empty text when none is)."""
    if t0 is None or t1 is None:
        return ""
    inside = [r for r in rows if t0 <= r["start"] <= t1]
    if not inside:
        return ""
    span = max(t1 - t0, timedelta(seconds=1))
    pw = W - LEFT - RIGHT
    out = [
        f'<svg class="annotations" viewBox="0 0 {W} {H}" width="100%" role="img"'
        ' aria-label="dated context on this timeline" xmlns="http://www.w3.org/2000/svg">',
        "<title>Dated context: orders, hearings, elections</title>",
    ]
    for i, r in enumerate(inside):
        x = LEFT + (r["start"] - t0) / span * pw
        date = day_text(r["start"])
        title = r["title"]
        label = title if len(title) <= LABEL_CHARS else title[: LABEL_CHARS - 1] + "…"
        y = 14 + (i % 3) * 12  # three rows, so neighbouring labels do not overprint
        anchor = "end" if x > W * 0.7 else "start"
        dx = -3 if anchor == "end" else 3
        out.append(
            f'<g class="annotation" data-date="{date}">'
            f"<title>{escape(date)}: {escape(title)}</title>"
            f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{H}" stroke="#333"'
            ' stroke-dasharray="3,2"/>'
            f'<text x="{x + dx:.1f}" y="{y}" font-size="10" text-anchor="{anchor}">'
            f"{escape(date)} {escape(label)}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)
