"""What each page shows, as plain data: the HTML pages, the JSON API and the report share it.

Each function takes the read path (:class:`Queries`) and the filters and returns a dict that
is both the template's context and the API's JSON body (charts aside: SVG strings are added
by the page routes only).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from blockwatch.errors import BlockwatchError
from blockwatch.web.charts import Shade, build_series
from blockwatch.web.filters import Filters, choose_bucket
from blockwatch.web.queries import PAGE_SIZE, Queries

BODY_PREVIEW = 20_000


class NotFound(BlockwatchError):
    """An id, country, network or domain the store does not hold."""

    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"no {what} {key!r} in the store")


def _naive(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


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
            spans = [(n["probe_asn"], _naive(n["start"]), _naive(n.get("end")),
                      n.get("availability", e["availability"])) for n in e["networks"]]
        for asn, start, end, avail in spans:
            if (asn, start) in seen or start is None:
                continue
            seen.add((asn, start))
            shades.setdefault(asn, []).append(
                Shade(start, end, e["kind"], float(avail or 0.0), e["event_id"])
            )
    return shades


def _timeline(
    q: Queries, where: str, params: list[Any], f: Filters, bucket: str | None,
    events: list[dict[str, Any]], domain: str | None, by_network: bool = True,
) -> dict[str, Any]:
    span = q.span(where, params, f)
    if span is None:
        return {"bucket": None, "start": f.start, "end": f.end, "series": []}
    t0, t1 = span
    name = choose_bucket(t0, t1, bucket)
    rows = q.timeline(where, params, Filters(t0, t1), name, by_network)
    shades = shades_for(events, domain) if by_network else {}
    series = build_series(rows, shades)
    return {"bucket": name, "start": t0, "end": t1, "series": series}


def timeline_json(tl: dict[str, Any]) -> dict[str, Any]:
    return {**tl, "series": [s.to_json() for s in tl["series"]]}


def overview(q: Queries, f: Filters) -> dict[str, Any]:
    lo, hi = q.data_range()
    return {
        "data_start": lo,
        "data_end": hi,
        "countries": [_share(r) for r in q.countries(f)],
        "ongoing_events": q.events(f, ongoing=True, top_level=True, limit=100),
        "recent_events": q.events(f, top_level=True, limit=50),
    }


def country(q: Queries, cc: str, f: Filters) -> dict[str, Any]:
    if not q.has_country(cc):
        raise NotFound("country", cc)
    return {
        "probe_cc": cc,
        "networks": [_share(r) for r in q.country_networks(cc, f)],
        "domains": [_share(r) for r in q.country_domains(cc, f)],
        "events": q.events(f, cc=cc, top_level=True),
    }


def domain(q: Queries, cc: str, dom: str, f: Filters, bucket: str | None) -> dict[str, Any]:
    events = q.events(f, cc=cc, domain=dom, with_network_wide=True)
    tl = _timeline(q, "probe_cc = ? AND domain = ?", [cc, dom], f, bucket, events, dom)
    if not tl["series"] and not any(e["domain"] == dom for e in events):
        raise NotFound("domain", f"{cc}/{dom}")
    return {
        "probe_cc": cc,
        "domain": dom,
        "timeline": tl,
        "events": [e for e in events if e["domain"] == dom and e["parent_event_id"] is None],
        "outages": [e for e in events if e["kind"] == "outage" and e["domain"] is None],
    }


def network(q: Queries, asn: str, f: Filters, bucket: str | None) -> dict[str, Any]:
    if not q.has_network(asn):
        raise NotFound("network", asn)
    events = q.events(f, asn=asn)
    # One series over all domains; only network-wide events (outages) are shaded on it.
    wide = [e for e in events if e["domain"] is None]
    tl = _timeline(q, "probe_asn = ?", [asn], f, bucket, wide, None)
    return {
        "probe_asn": asn,
        "domains": [_share(r) for r in q.network_domains(asn, f)],
        "events": events,
        "timeline": tl,
    }


def event_timeline(
    q: Queries, ev: dict[str, Any], children: list[dict[str, Any]]
) -> dict[str, Any]:
    """The event's series with a margin either side, so before and after are visible."""
    end = ev["end"] or q.data_range()[1] or ev["start"]
    margin = max((end - ev["start"]) * 0.25, timedelta(days=1))
    window = Filters(ev["start"] - margin, end + margin)
    if ev["domain"] is not None:
        where, params = "probe_cc = ? AND domain = ?", [ev["probe_cc"], ev["domain"]]
        if ev["probe_asn"]:
            where, params = where + " AND probe_asn = ?", [*params, ev["probe_asn"]]
    else:
        where, params = "probe_cc = ? AND probe_asn = ?", [ev["probe_cc"], ev["probe_asn"]]
    return _timeline(q, where, params, window, None, [ev, *children], ev["domain"])


def event(q: Queries, event_id: str, page: int = 1) -> dict[str, Any]:
    ev = q.event(event_id)
    if ev is None:
        raise NotFound("event", event_id)
    page = max(1, page)
    children = q.child_events(event_id)
    networks = [{**n, "start": _naive(n.get("start")), "end": _naive(n.get("end"))}
                for n in ev["networks"]] or [
        {"probe_asn": c["probe_asn"], "start": c["start"], "end": c["end"],
         "availability": c["availability"]} for c in children
    ]
    if not networks and ev["probe_asn"]:
        networks = [{"probe_asn": ev["probe_asn"], "start": ev["start"], "end": ev["end"],
                     "availability": ev["availability"]}]
    return {
        "event": ev,
        "networks": networks,
        "children": children,
        "timeline": event_timeline(q, ev, children),
        "page": page,
        "page_size": PAGE_SIZE,
        "pages": max(1, -(-ev["n_measurements"] // PAGE_SIZE)),
        "measurements": q.event_measurements(ev, offset=(page - 1) * PAGE_SIZE),
    }


def _body_text(body: Any) -> tuple[str | None, bool]:
    """An HTTP body as text for display (OONI may store it base64): (text, cut)."""
    if body is None:
        return None, False
    if isinstance(body, dict) and body.get("format") == "base64":
        try:
            text = base64.b64decode(body.get("data") or "").decode("utf-8", "replace")
        except ValueError:
            text = str(body.get("data"))
    else:
        text = body if isinstance(body, str) else str(body)
    return text[:BODY_PREVIEW], len(text) > BODY_PREVIEW


def observations(raw: dict[str, Any]) -> dict[str, Any]:
    """The observations a Web Connectivity measurement holds, flattened for display."""
    tk = raw.get("test_keys") or {}
    requests = []
    for r in tk.get("requests") or []:
        req, resp = r.get("request") or {}, r.get("response") or {}
        body, cut = _body_text(resp.get("body"))
        requests.append({
            "url": req.get("url"), "method": req.get("method"), "failure": r.get("failure"),
            "status": resp.get("code"), "headers": resp.get("headers") or {},
            "body": body, "body_cut": cut,
            "body_is_truncated": resp.get("body_is_truncated"),
        })
    return {
        "queries": [
            {"hostname": x.get("hostname"), "query_type": x.get("query_type"),
             "engine": x.get("engine"), "resolver": x.get("resolver_address"),
             "failure": x.get("failure"),
             "answers": [a.get("ipv4") or a.get("ipv6") or a.get("hostname")
                         for a in x.get("answers") or []]}
            for x in tk.get("queries") or []
        ],
        "tcp_connect": [
            {"ip": x.get("ip"), "port": x.get("port"),
             "success": (x.get("status") or {}).get("success"),
             "failure": (x.get("status") or {}).get("failure")}
            for x in tk.get("tcp_connect") or []
        ],
        "tls_handshakes": [
            {"address": x.get("address"), "server_name": x.get("server_name"),
             "failure": x.get("failure"), "tls_version": x.get("tls_version")}
            for x in tk.get("tls_handshakes") or []
        ],
        "requests": requests,
        "control": tk.get("control"),
        "ooni_summary": {k: tk.get(k) for k in (
            "dns_consistency", "body_proportion", "status_code_match", "headers_match",
            "title_match", "blocking", "accessible") if k in tk},
    }


def measurement(q: Queries, measurement_id: str) -> dict[str, Any]:
    verdict = q.verdict(measurement_id)
    raw = q.raw_measurement(measurement_id)
    if verdict is None and raw is None:
        raise NotFound("measurement", measurement_id)
    return {
        "measurement_id": measurement_id,
        "verdict": verdict,
        "ooni_blocking": (verdict or {}).get("ooni_blocking"),
        "observations": observations(raw) if raw else None,
        "raw": raw,
        "events": q.events_of_measurement(measurement_id),
    }

