"""How the dashboard and the report turn data into output: JSON, templates, charts.

Pages, the API and the evidence report all render through here, so none of them imports
another to borrow a helper. Nothing here needs the web framework: the report is written
without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import orjson
from jinja2 import BytecodeCache, Environment, PackageLoader, select_autoescape
from jinja2.bccache import Bucket

from blockwatch import __version__
from blockwatch.errors import FilterError
from blockwatch.store import Filter
from blockwatch.times import ONE_DAY, day_text, iso_z, minute_text, shift
from blockwatch.web.charts import W, legend_html, legend_svg, timeline_svg

__all__ = [
    "BUCKETS",
    "MAX_BUCKETS",
    "charts",
    "choose_bucket",
    "compile_templates",
    "dumps",
    "fmt_time",
    "legend",
    "legend_for_page",
    "make_templates",
    "query_string",
    "with_isp",
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
        return f"{minute_text(value)} UTC" if with_time else day_text(value)
    return str(value)


def _next_day(t: datetime) -> str:
    """The day after a time, as a date: the exclusive end of a range that includes that day
    ("" past the calendar's last day, where a blank bound means no bound)."""
    after = shift(t, ONE_DAY)
    return "" if after.date() == t.date() else after.date().isoformat()


def shown(value: Any) -> str:
    """A measured value as a reader should see it: no Python spelling (None, True, False)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json_value(value)
    return str(value)


def json_value(value: Any) -> str:
    """A value of OONI's JSON in JSON's own spelling (null, true, false, "text")."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def event_subject(e: dict[str, Any]) -> str:
    """What an event is about and where: 'x.com on AS17557 in PK', 'network AS135407 in PK'
    (an outage of one network is not one of every domain in the country)."""
    if e.get("probe_asn"):
        where = f"{e['probe_asn']} in {e['probe_cc']}"
    elif e.get("networks"):
        n = len(e["networks"])
        where = f"{e['probe_cc']} ({n} network{'s' if n != 1 else ''})"
    else:
        where = e["probe_cc"]
    if e.get("domain"):
        return f"{e['domain']} {'on' if e.get('probe_asn') else 'in'} {where}"
    return f"network {where}" if e.get("probe_asn") else f"every network measured in {where}"


_DICT_ATTRIBUTES: Final = frozenset(dir(dict))


class _CompiledTemplates(BytecodeCache):
    """Compiled templates kept for the process: each dashboard (the server's, a worker's, a
    test's) makes its own environment, and compiling the pages costs about 90 ms."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED: Final = _CompiledTemplates()


def compile_templates(env: Environment) -> None:
    """Compile every template now, not in the first requests (compiling a page costs more
    than rendering it)."""
    for name in env.list_templates():
        env.get_template(name)


class _Templates(Environment):
    """Jinja2 with ``row.name`` on a dict looked up as the key at once. Jinja tries the
    attribute first and takes the key after the AttributeError: a network page's Python
    time went from 3.8 to 2.8 ms without it. The answer is the same, as a dict has no
    attribute of that name (its methods, ``items`` and the rest, go the usual way)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def make_templates(network_name: Callable[[str | None], str | None] | None = None) -> Environment:
    """The Jinja2 environment; autoescape is on for every template (measured data is
    untrusted), and only our own SVG strings are marked safe, after escaping in charts.py.
    ``network_name``: AS -> the network's name, for the ``with_isp`` filter."""
    env = _Templates(
        loader=PackageLoader("blockwatch.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # shipped in the package: they do not change under a server
        bytecode_cache=_COMPILED,
    )
    env.filters["t"] = fmt_time
    env.filters["shown"] = shown
    env.filters["json_value"] = json_value
    env.filters["event_subject"] = event_subject
    env.filters["pct"] = lambda v: "" if v is None else f"{float(v):.0%}"
    env.filters["next_day"] = _next_day
    # One path segment: "/" too is escaped, so an id holding it stays one segment (and a
    # "/../" in it is never resolved by the browser); the routes take it back whole.
    env.filters["seg"] = lambda v: quote(str(v), safe="")
    env.globals["version"] = __version__
    names = network_name or (lambda asn: None)
    env.filters["with_isp"] = lambda asn: with_isp(asn, names(asn))
    return env


def with_isp(asn: str | None, name: str | None) -> str:
    """An AS number with the name people use for it: "AS17557 (PTCL)"."""
    if not asn:
        return ""
    return f"{asn} ({name})" if name and name != asn else asn


def charts(tl: dict[str, Any], width: int = W) -> list[tuple[str, str]]:
    """(network, svg) per series of a timeline (SVG text is escaped in charts.py)."""
    if not tl["series"]:
        return []
    length = BUCKETS[tl["bucket"]]
    return [(s.name, timeline_svg(s, tl["start"], tl["end"], length, width)) for s in tl["series"]]


def _methods(tl: dict[str, Any]) -> list[str]:
    return sorted({m for s in tl["series"] for b in s.buckets for m in b.methods})


def legend(tl: dict[str, Any]) -> str:
    return legend_svg(_methods(tl))


def legend_for_page(tl: dict[str, Any]) -> str:
    """The dashboard's legend: HTML, so it wraps on a phone."""
    return legend_html(_methods(tl))
