"""Where on the path an event's blocking happens: the ``blockwatch trace`` measurements of
its domain, country and networks made in or near its span, for the event page, its API route
and the evidence report.

A trace's document is read like any stored document: every field is untrusted, a value of
the wrong type is no finding, never an exception. Each finding says the hop, its address, its
AS with the name people use (the trace's own, else the store's or the ASN database's), and the
technique (``tls.reset``: the packet that triggered it, and what came back).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from blockwatch.errors import StoreError
from blockwatch.store import Filter, Reads
from blockwatch.times import shift

__all__ = [
    "TRACE_MARGIN",
    "TRACE_TEST",
    "event_traces",
    "report_traces",
    "scope_traces",
    "trace_view",
]

TRACE_TEST: Final = "blockwatch_trace"
# A trace this long before an event's start or after its end still speaks of it.
TRACE_MARGIN: Final = timedelta(days=7)
_TEXT_CAP: Final = 500  # a sentence longer than this is cut (the document is untrusted)

NameOf = Callable[[str | None], str | None]


def event_networks(ev: dict[str, Any], children: list[dict[str, Any]]) -> list[str]:
    """The networks an event covers: its own, its per-network spans, or its children's."""
    if ev.get("probe_asn"):
        return [ev["probe_asn"]]
    nets = {n.get("probe_asn") for n in ev.get("networks") or []}
    nets |= {c.get("probe_asn") for c in children}
    return sorted(n for n in nets if isinstance(n, str) and n)


def event_traces(
    r: Reads, ev: dict[str, Any], children: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The traces of an event's domain from its country and networks, made from
    TRACE_MARGIN before its start to TRACE_MARGIN after its end (any time after, while it is
    ongoing); newest first. An event of no domain (an outage) has none."""
    if not ev.get("domain"):
        return []
    since = shift(ev["start"], -TRACE_MARGIN)
    until = shift(ev["end"], TRACE_MARGIN) if ev.get("end") else None
    asns = event_networks(ev, children)
    return _views(r, r.traces(ev["probe_cc"], ev["domain"], asns, since, until))


def scope_traces(
    r: Reads,
    country: str,
    domain: str,
    asn: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """The traces of a domain in a country (on one network when given) in a range."""
    return _views(r, r.traces(country, domain, [asn] if asn else [], since, until))


def report_traces(
    r: Reads, event_id: str | None, events: list[dict[str, Any]], f: Filter
) -> list[dict[str, Any]]:
    """The traces an evidence report lists (and hashes with its other measurements): the
    event's (``event_traces``), or those of the scope's domain, country, network and range."""
    if event_id is not None:
        return event_traces(r, events[0], events[1:]) if events else []
    if not f.country or not f.domain:
        return []
    return scope_traces(r, f.country, f.domain, f.asn, f.since, f.until)


def _views(r: Reads, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return []
    try:
        raws = r.raw_measurements([row["measurement_id"] for row in rows])
    except StoreError:
        raws = {}  # unreadable raw texts: the traces are listed, their findings unknown
    out = []
    for row in rows:
        try:
            doc = orjson.loads(raws[row["measurement_id"]])
        except (KeyError, orjson.JSONDecodeError):
            doc = None
        out.append(trace_view(row, doc, r.network_name))
    return out


def _text(value: Any) -> str | None:
    return value[:_TEXT_CAP] if isinstance(value, str) and value else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def named(sentence: str, asn: str | None, name: str | None) -> str:
    """The sentence with the AS's name beside its number: "inside AS17557 (PTCL)"."""
    if not asn or not name or name == asn:
        return sentence
    return re.sub(rf"\b{re.escape(asn)}\b(?! \()", f"{asn} ({name})", sentence)


def finding(t: dict[str, Any], name_of: NameOf) -> dict[str, Any]:
    """One tampering a trace found: its hop, address, AS and name, technique, sentence."""
    hop = t.get("hop") if isinstance(t.get("hop"), int) else None
    asn, after_asn = _text(t.get("asn")), _text(t.get("after_asn"))
    name = _text(t.get("as_org")) or name_of(asn)
    method, kind = _text(t.get("method")), _text(t.get("kind"))
    sentence = _text(t.get("sentence")) or ""
    sentence = named(named(sentence, asn, name), after_asn, name_of(after_asn))
    return {
        "hop": hop,
        "address": _text(t.get("address")),
        "after": _text(t.get("after")),
        "asn": asn,
        "as_name": name,
        "technique": f"{method}.{kind}" if method and kind else (method or kind),
        "sentence": sentence,
    }


def trace_view(row: dict[str, Any], doc: Any, name_of: NameOf) -> dict[str, Any]:
    """A stored trace (its verdict row, its document or None) as a page shows it."""
    keys = doc.get("test_keys") if isinstance(doc, dict) else None
    keys = keys if isinstance(keys, dict) else {}
    found = _dicts(keys.get("tamperings"))
    if not found and isinstance(keys.get("tampering"), dict):
        found = [keys["tampering"]]
    findings = [finding(t, name_of) for t in found]
    resolver = keys.get("endpoint_tampering")
    if isinstance(resolver, dict) and resolver.get("lies") is True:
        findings.insert(0, resolver_finding(resolver))
    return {
        "measurement_id": row["measurement_id"],
        "measured_at": row["measured_at"],
        "probe_asn": row.get("probe_asn"),
        "input": row.get("input"),
        "findings": findings,
        "summary": _text(keys.get("summary")) or "no tampering found on the path",
    }


def resolver_finding(resolver: dict[str, Any]) -> dict[str, Any]:
    """A resolver that lies: the endpoint it is, not a hop of the path."""
    hop = resolver.get("hop") if isinstance(resolver.get("hop"), int) else None
    address = _text(resolver.get("address"))
    why = _text(resolver.get("why")) or "its answer differs from the truth"
    at = f" (hop {hop}, the endpoint)" if hop is not None else " (the endpoint)"
    return {
        "hop": hop,
        "address": address,
        "after": None,
        "asn": None,
        "as_name": None,
        "technique": "dns.resolver",
        "sentence": f"the resolver {address or '?'}{at} lies: {why}",
    }
