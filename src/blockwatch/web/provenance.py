"""Where an evidence report's measurements came from, and one raw excerpt per method.

Pure: raw measurement texts and verdict rows in, plain data for the report's template out.
A measurement is one of four origins, read from its own OONI envelope:

    lab          the lab's simulated censorship (a report id ending ``_bwlab<round>``): namespaces
                 on one machine, times on the lab's virtual clock
    blockwatch   the project's own probes (``software_name`` blockwatch)
    ooni         OONI Probe, published with a report id (linked on OONI Explorer by its uid)
    unpublished  no report id: never submitted to a collector, such as OONI's QA runs of
                 simulated censorship on a developer's machine; never evidence of censorship
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

__all__ = [
    "EXPLORER",
    "ORIGINS",
    "Excerpt",
    "Origin",
    "excerpts",
    "explorer_url",
    "origin_of",
    "sources",
]

EXPLORER: Final = "https://explorer.ooni.org/m/"
ORIGINS: Final = ("ooni", "blockwatch", "lab", "unpublished")
LAB_REPORT = re.compile(r"_bwlab\d+$")
# Longest string an excerpt shows whole; past it the rest is counted, so every excerpt line
# fits a printed page and a body cannot fill the report.
EXCERPT_STRING_MAX: Final = 80
EXCERPT_ITEMS_MAX: Final = 6


def origin_of(doc: dict[str, Any]) -> str:
    """One of ORIGINS for a raw measurement (see the module docstring)."""
    rid = str(doc.get("report_id") or "")
    if LAB_REPORT.search(rid):
        return "lab"
    if doc.get("software_name") == "blockwatch":
        return "blockwatch"
    return "ooni" if rid else "unpublished"


def explorer_url(doc: dict[str, Any]) -> str | None:
    """The measurement's page on OONI Explorer, where OONI published it with a uid."""
    if origin_of(doc) != "ooni":
        return None
    uid = doc.get("measurement_uid")
    return f"{EXPLORER}{uid}" if isinstance(uid, str) and uid else None


@dataclass(slots=True)
class Origin:
    """The measurements of one origin in a report."""

    name: str
    n: int = 0
    report_ids: Counter[str] = field(default_factory=Counter)
    software: Counter[str] = field(default_factory=Counter)
    vantages: set[tuple[str, str]] = field(default_factory=set)  # (country, network)
    linked: int = 0  # measurements with an OONI Explorer link
    first: str | None = None  # measurement_start_time as written (the lab's: virtual)
    last: str | None = None


def sources(docs: dict[str, dict[str, Any]]) -> list[Origin]:
    """Per origin present (in ORIGINS order): counts, report ids, software, vantages."""
    by: dict[str, Origin] = {}
    for doc in docs.values():
        o = by.setdefault(origin_of(doc), Origin(origin_of(doc)))
        o.n += 1
        rid = str(doc.get("report_id") or "")
        if rid:
            o.report_ids[rid] += 1
        soft = f"{doc.get('software_name') or '?'} {doc.get('software_version') or '?'}"
        o.software[soft] += 1
        o.vantages.add((str(doc.get("probe_cc") or "?"), str(doc.get("probe_asn") or "?")))
        o.linked += explorer_url(doc) is not None
        when = doc.get("measurement_start_time")
        if isinstance(when, str):
            o.first = when if o.first is None else min(o.first, when)
            o.last = when if o.last is None else max(o.last, when)
    return [by[name] for name in ORIGINS if name in by]


@dataclass(frozen=True, slots=True)
class Excerpt:
    """One blocked measurement's raw evidence for its method."""

    method: str
    measurement_id: str
    part: str  # which part of the raw measurement is shown
    text: str  # that part, pretty-printed and cut to fit a page
    fingerprint: str | None
    evidence: list[str]


def _cut(value: Any) -> Any:
    """The value with long strings and lists shortened, saying how much was left out."""
    if isinstance(value, str) and len(value) > EXCERPT_STRING_MAX:
        return f"{value[:EXCERPT_STRING_MAX]}… ({len(value) - EXCERPT_STRING_MAX} more chars)"
    if isinstance(value, list):
        kept = [_cut(v) for v in value[:EXCERPT_ITEMS_MAX]]
        return kept + (
            [f"… {len(value) - EXCERPT_ITEMS_MAX} more"] if len(value) > EXCERPT_ITEMS_MAX else []
        )
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in value.items()}
    return value


def _events_of(keys: dict[str, Any], address: str | None) -> list[Any]:
    """Network events of the failed TLS handshake's connection: the ClientHello's start,
    the bytes written and read, then the failure."""
    events = [e for e in keys.get("network_events") or [] if isinstance(e, dict)]
    if address is not None and any(e.get("address") == address for e in events):
        events = [e for e in events if e.get("address") == address]
    wanted = ("connect", "write", "read", "tls_handshake_start", "tls_handshake_done")
    keep = [
        {k: e.get(k) for k in ("operation", "address", "num_bytes", "failure", "t") if k in e}
        for e in events
        if str(e.get("operation", "")).startswith(wanted)
    ]
    return keep[-EXCERPT_ITEMS_MAX:]


def _part(method: str, keys: dict[str, Any]) -> tuple[str, Any]:
    """(name, value) of the raw test keys that show a method's evidence."""
    prefix = method.split(".", 1)[0]
    if prefix == "dns":
        fields = ("hostname", "engine", "resolver_address", "failure", "answers")
        queries = [
            {k: q.get(k) for k in fields} for q in keys.get("queries") or [] if isinstance(q, dict)
        ]
        return "test_keys.queries (the DNS answers)", queries
    if prefix == "tcp":
        return "test_keys.tcp_connect", keys.get("tcp_connect") or []
    if prefix == "tls":
        shakes = [
            {k: h.get(k) for k in ("address", "server_name", "failure", "t") if k in h}
            for h in keys.get("tls_handshakes") or []
            if isinstance(h, dict)
        ]
        failed = next((h.get("address") for h in shakes if h.get("failure")), None)
        events = _events_of(keys, failed if isinstance(failed, str) else None)
        if not events:
            return "test_keys.tls_handshakes (the ClientHello naming the site, then the failure)", {
                "tls_handshakes": shakes
            }
        return "test_keys.tls_handshakes and network_events (ClientHello, then the reset)", {
            "tls_handshakes": shakes,
            "network_events": events,
        }
    reqs = [r for r in keys.get("requests") or [] if isinstance(r, dict)]
    first = reqs[0] if reqs else {}
    response = first.get("response") if isinstance(first.get("response"), dict) else {}
    shown = {
        "url": (first.get("request") or {}).get("url"),
        "failure": first.get("failure"),
        "status": (response or {}).get("code"),
        "headers": (response or {}).get("headers"),
        "body": (response or {}).get("body"),
    }
    return "test_keys.requests[0] (the page the probe got)", shown


def excerpts(verdicts: list[dict[str, Any]], docs: dict[str, dict[str, Any]]) -> list[Excerpt]:
    """For each blocking method among the verdicts, one blocked measurement's raw evidence
    (a confirmed one first: its blockpage matched a fingerprint)."""
    out: list[Excerpt] = []
    blocked = [v for v in verdicts if v.get("outcome") == "blocked" and v.get("method")]
    blocked.sort(key=lambda v: (not v.get("confirmed"), str(v["measurement_id"])))
    seen: set[str] = set()
    for v in blocked:
        method, doc = str(v["method"]), docs.get(str(v["measurement_id"]))
        if method in seen or doc is None:
            continue
        seen.add(method)
        keys = doc.get("test_keys") if isinstance(doc.get("test_keys"), dict) else {}
        name, value = _part(method, keys or {})
        text = orjson.dumps(_cut(value), option=orjson.OPT_INDENT_2).decode()
        out.append(
            Excerpt(
                method,
                str(v["measurement_id"]),
                name,
                text,
                v.get("fingerprint"),
                [str(e) for e in v.get("evidence") or []],
            )
        )
    return sorted(out, key=lambda e: e.method)
