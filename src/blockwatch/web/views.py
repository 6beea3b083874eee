"""What each page shows, as plain data: the HTML pages, the JSON API and the report share it.

Each function takes the read API (:class:`Reads`) and a filter and returns a dict that
is both the template's context and the API's JSON body (charts aside: SVG strings are added
by the page routes only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from blockwatch.analysis.records import TOOL_DOMAINS
from blockwatch.errors import BlockwatchError, StoreError
from blockwatch.store import Filter, Reads, normalize_asn
from blockwatch.store.reads import PAGE_SIZE
from blockwatch.times import naive_utc, parse_iso, shift
from blockwatch.web import documents
from blockwatch.web.charts import Shade, build_series
from blockwatch.web.render import BUCKETS, choose_bucket
from blockwatch.web.traces import event_traces

__all__ = [
    "NotFound",
    "country",
    "domain",
    "empty_range",
    "event",
    "event_timeline",
    "measurement",
    "network",
    "overview",
    "timeline_json",
]


class NotFound(BlockwatchError):
    """An id, country, network or domain the store does not hold."""

    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"no {what} {key!r} in the store")


def _naive(value: str | None) -> datetime | None:
    """A stored event span's ISO time as naive UTC (what the rest of a page holds)."""
    return naive_utc(parse_iso(value)) if value else None


def _share(row: dict[str, Any]) -> dict[str, Any]:
    row["blocked_share"] = round(row["blocked"] / row["n"], 4) if row.get("n") else 0.0
    return row


def shades_for(events: list[dict[str, Any]], domain: str | None) -> dict[str, list[Shade]]:
    """Events to draw behind each network's series (network events, and country events'
    per-network spans when no child event carries them)."""
    shades: dict[str, list[Shade]] = {}
    seen: set[tuple[str, datetime]] = set()
    for e in sorted(events, key=lambda e: e["probe_asn"] is None):
        if domain is not None and e["domain"] not in (domain, None):
            continue
        if e["probe_asn"]:
            spans = [(e["probe_asn"], e["start"], e["end"], e["availability"])]
        else:
            spans = [
                (
                    n["probe_asn"],
                    _naive(n["start"]),
                    _naive(n.get("end")),
                    n.get("availability", e["availability"]),
                )
                for n in e["networks"]
            ]
        for asn, start, end, avail in spans:
            if start is None or (asn, start) in seen:
                continue
            seen.add((asn, start))
            shades.setdefault(asn, []).append(
                Shade(start, end, e["kind"], float(avail or 0.0), e["event_id"])
            )
    return shades


def _timeline(
    r: Reads,
    f: Filter,
    bucket: str | None,
    events: list[dict[str, Any]],
    domain: str | None,
    by_network: bool = True,
) -> dict[str, Any]:
    """The timeline of the verdicts ``f`` selects, its range closed by the data."""
    span = r.span(f)
    if span is None:
        start = naive_utc(f.since) if f.since else None
        end = naive_utc(f.until) if f.until else None
        return {"bucket": None, "start": start, "end": end, "series": []}
    t0, t1 = span
    name = choose_bucket(t0, t1, bucket)
    rows = r.timeline(f.replace(since=t0, until=t1), BUCKETS[name], by_network)
    if rows:
        # A range reaching past the data (an event's margin, an `until` in the future) ends
        # the chart with the last bucket measured: nothing is drawn, or shaded, beyond it.
        t1 = min(t1, shift(max(row["bucket"] for row in rows), BUCKETS[name]))
    shades = shades_for(events, domain) if by_network else {}
    series = build_series(rows, shades)
    return {"bucket": name, "start": t0, "end": t1, "series": series}


def timeline_json(tl: dict[str, Any]) -> dict[str, Any]:
    return {**tl, "series": [s.to_json() for s in tl["series"]]}


def empty_range(r: Reads, f: Filter) -> bool:
    """Whether ``f`` asks for a time range that holds no measurement at all."""
    return (f.since is not None or f.until is not None) and r.span(f) is None


def _observed(r: Reads, f: Filter, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events a filtered view lists: an ongoing event is ongoing as of its last
    measurement, so a range holding no measurement at all shows none of them."""
    if not any(e["end"] is None for e in events) or not empty_range(r, f):
        return events
    return [e for e in events if e["end"] is not None]


def overview(r: Reads, f: Filter) -> dict[str, Any]:
    lo, hi = r.data_range()
    return {
        "data_start": lo,
        "data_end": hi,
        "countries": [_share(row) for row in r.countries(f)],
        "ongoing_events": _observed(r, f, r.events(f, ongoing=True, top_level=True, limit=100)),
        "recent_events": _observed(r, f, r.events(f, top_level=True, limit=50)),
    }


def country(r: Reads, cc: str, f: Filter) -> dict[str, Any]:
    cc = cc.upper()  # as the store matches it: /country/pk is Pakistan's page
    if not r.has_country(cc):
        raise NotFound("country", cc)
    here = f.replace(country=cc)
    domains = r.country_domains(here)
    return {
        "probe_cc": cc,
        "networks": [_share(row) for row in r.country_networks(here)],
        "domains": [_share(row) for row in domains],
        "events": _observed(r, here, r.events(here, top_level=True)),
        "tools": tool_states(domains, r.events(here)),
    }


def tool_states(
    domains: list[dict[str, Any]], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per tool and network: blocked since the start of an ongoing event, reachable
    again since the end of the last one, or no block seen (every network, one row)."""
    rows = []
    for tool in [d["domain"] for d in domains if d["domain"] in TOOL_DOMAINS]:
        latest: dict[str, dict[str, Any]] = {}
        for e in events:
            if e["domain"] == tool and e["probe_asn"] and e["kind"] == "censorship":
                seen = latest.get(e["probe_asn"])
                if seen is None or e["start"] > seen["start"]:
                    latest[e["probe_asn"]] = e
        for asn, e in sorted(latest.items()):
            ongoing = e["end"] is None
            rows.append(
                {
                    "tool": tool,
                    "network": asn,
                    "state": "blocked" if ongoing else "reachable",
                    "since": e["start"] if ongoing else e["end"],
                    "methods": e["methods"] if ongoing else [],
                }
            )
        if not latest:
            rows.append(
                {
                    "tool": tool,
                    "network": None,
                    "state": "no block seen",
                    "since": None,
                    "methods": [],
                }
            )
    return rows


def domain(r: Reads, cc: str, dom: str, f: Filter, bucket: str | None) -> dict[str, Any]:
    cc, dom = cc.upper(), dom.lower()  # as the store matches them
    here = f.replace(country=cc, domain=dom)
    events = r.events(here, with_network_wide=True)
    tl = _timeline(r, here, bucket, events, dom)
    if not tl["series"] and not any(e["domain"] == dom for e in events):
        raise NotFound("domain", f"{cc}/{dom}")
    return {
        "probe_cc": cc,
        "domain": dom,
        "timeline": tl,
        "events": [e for e in events if e["domain"] == dom and e["parent_event_id"] is None],
        "outages": [e for e in events if e["kind"] == "outage" and e["domain"] is None],
    }


def network(r: Reads, asn: str, f: Filter, bucket: str | None) -> dict[str, Any]:
    asn = normalize_asn(asn) or asn  # as the store matches it: 17557 is AS17557
    if not r.has_network(asn):
        raise NotFound("network", asn)
    here = f.replace(asn=asn)
    events = r.events(here)
    # One series over all domains; only network-wide events (outages) are shaded on it.
    wide = [e for e in events if e["domain"] is None]
    return {
        "probe_asn": asn,
        "domains": [_share(row) for row in r.network_domains(here)],
        "events": events,
        "timeline": _timeline(r, here, bucket, wide, None),
    }


def event_timeline(r: Reads, ev: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
    """The event's series with a margin either side, so before and after are visible."""
    end = ev["end"] or r.data_range()[1] or ev["start"]
    margin = max((end - ev["start"]) * 0.25, timedelta(days=1))
    if ev["domain"] is not None:
        scope = Filter(country=ev["probe_cc"], domain=ev["domain"], asn=ev["probe_asn"])
    else:
        scope = Filter(country=ev["probe_cc"], asn=ev["probe_asn"])
    window = scope.replace(since=shift(ev["start"], -margin), until=shift(end, margin))
    return _timeline(r, window, None, [ev, *children], ev["domain"])


def event(r: Reads, event_id: str, page: int = 1) -> dict[str, Any]:
    ev = r.event(event_id)
    if ev is None:
        raise NotFound("event", event_id)
    page = max(1, page)
    children = r.child_events(event_id)
    networks = [
        {**n, "start": _naive(n.get("start")), "end": _naive(n.get("end"))} for n in ev["networks"]
    ] or [
        {
            "probe_asn": c["probe_asn"],
            "start": c["start"],
            "end": c["end"],
            "availability": c["availability"],
        }
        for c in children
    ]
    if not networks and ev["probe_asn"]:
        networks = [
            {
                "probe_asn": ev["probe_asn"],
                "start": ev["start"],
                "end": ev["end"],
                "availability": ev["availability"],
            }
        ]
    return {
        "event": ev,
        "networks": networks,
        "children": children,
        "timeline": event_timeline(r, ev, children),
        "traces": event_traces(r, ev, children),
        "page": page,
        "page_size": PAGE_SIZE,
        "pages": max(1, -(-ev["n_measurements"] // PAGE_SIZE)),
        "measurements": r.event_measurements(ev, offset=(page - 1) * PAGE_SIZE),
    }


def measurement(r: Reads, measurement_id: str) -> dict[str, Any]:
    """Our verdict, OONI's, the observations, and the document itself: as JSON, or as the
    stored text where it is nested too deep to show as a tree (or is not JSON at all)."""
    verdict = r.verdict(measurement_id)
    try:
        text = r.raw_measurements([measurement_id]).get(measurement_id)
    except StoreError:
        text, unreadable = None, True
    else:
        unreadable = False
    if verdict is None and text is None and not unreadable:
        raise NotFound("measurement", measurement_id)
    doc = documents.read(text) if text is not None else documents.Document(None, None)
    return {
        "measurement_id": measurement_id,
        "verdict": verdict,
        "ooni_blocking": (verdict or {}).get("ooni_blocking"),
        "observations": documents.observations(doc.tree) if doc.tree else None,
        "raw": doc.tree if doc.text is None else None,
        "raw_text": doc.text,
        "raw_unreadable": unreadable,
        "events": r.events_of_measurement(measurement_id),
    }
