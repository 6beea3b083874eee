"""How the dashboard and the report turn data into output: JSON, templates, charts.

Pages, the API and the evidence report all render through here, so none of them imports
another to borrow a helper. Nothing here needs the web framework: the report is written
without it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape

from blockwatch import __version__
from blockwatch.errors import FilterError
from blockwatch.store import Filter
from blockwatch.times import ONE_DAY, iso_z, shift
from blockwatch.web.charts import legend_svg, timeline_svg

__all__ = [
    "BUCKETS",
    "MAX_BUCKETS",
    "charts",
    "choose_bucket",
    "dumps",
    "fmt_time",
    "legend",
    "make_templates",
    "query_string",
]

# Bucket sizes a timeline may use, smallest first.
BUCKETS: Final[dict[str, timedelta]] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}
MAX_BUCKETS: Final = 150


def choose_bucket(start: datetime, end: datetime, requested: str | None = None) -> str:
    """The smallest bucket keeping the chart under MAX_BUCKETS bars, unless one is asked."""
    if requested:
        if requested not in BUCKETS:
            raise FilterError("bucket", f"one of {', '.join(BUCKETS)}")
        return requested
    span = max(end - start, timedelta(hours=1))
    for name, length in BUCKETS.items():
        if span / length <= MAX_BUCKETS:
            return name
    return "7d"


def _bound_text(value: datetime) -> str:
    """A bound as a link carries it: a date where it is a midnight, else the full time."""
    text = iso_z(value) or ""
    return text[:10] if text.endswith("T00:00:00Z") else text


def query_string(f: Filter) -> str:
    """The time range of a page's filter, for the links it shows (``since=…&until=…``)."""
    parts = []
    if f.since is not None:
        parts.append(f"since={_bound_text(f.since)}")
    if f.until is not None:
        parts.append(f"until={_bound_text(f.until)}")
    return "&".join(parts)


def _default(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, bytes):
        return None
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(data: Any) -> bytes:
    """Our JSON: naive times are UTC and get a Z offset; keys as given."""
    try:
        return orjson.dumps(data, default=_default, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        # orjson writes 254 levels at most; a stored measurement may be deeper (it reads 1024).
        text = json.dumps(data, default=_json_default, ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    return _default(value)


def fmt_time(value: Any, with_time: bool = True) -> str:
    if value is None:
        return "ongoing"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")
    return str(value)


def _next_day(t: datetime) -> str:
    """The day after a time, as a date: the exclusive end of a range that includes that day
    ("" past the calendar's last day, where a blank bound means no bound)."""
    after = shift(t, ONE_DAY)
    return "" if after.date() == t.date() else after.date().isoformat()


def make_templates() -> Environment:
    """The Jinja2 environment; autoescape is on for every template (measured data is
    untrusted), and only our own SVG strings are marked safe, after escaping in charts.py."""
    env = Environment(
        loader=PackageLoader("blockwatch.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["t"] = fmt_time
    env.filters["pct"] = lambda v: "" if v is None else f"{float(v):.0%}"
    env.filters["next_day"] = _next_day
    # One path segment: "/" too is escaped, so an id holding it stays one segment (and a
    # "/../" in it is never resolved by the browser); the routes take it back whole.
    env.filters["seg"] = lambda v: quote(str(v), safe="")
    env.globals["version"] = __version__
    return env


def charts(tl: dict[str, Any]) -> list[tuple[str, str]]:
    """(network, svg) per series of a timeline (SVG text is escaped in charts.py)."""
    if not tl["series"]:
        return []
    length = BUCKETS[tl["bucket"]]
    return [(s.name, timeline_svg(s, tl["start"], tl["end"], length)) for s in tl["series"]]


def legend(tl: dict[str, Any]) -> str:
    methods = sorted({m for s in tl["series"] for b in s.buckets for m in b.methods})
    return legend_svg(methods)
