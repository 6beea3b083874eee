"""Atom feeds of events (RFC 4287): one entry per event, newest change first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from blockwatch.times import iso_z

__all__ = ["atom_feed", "event_title"]


def event_title(e: dict[str, Any]) -> str:
    """ "Censorship: x.com in PK on AS17557 (tls.reset), ongoing" and the like."""
    what = e.get("domain") or "all measured sites"
    where = e["probe_cc"] + (f" on {e['probe_asn']}" if e.get("probe_asn") else "")
    if e.get("networks") and not e.get("probe_asn"):
        where += f" ({len(e['networks'])} networks)"
    kind = "Censorship" if e["kind"] == "censorship" else "Outage (not censorship)"
    methods = f" ({', '.join(e['methods'])})" if e.get("methods") else ""
    state = "ongoing" if e.get("end") is None else f"ended {_when(e['end'])}"
    return f"{kind}: {what} in {where}{methods}, {state}"


def _when(value: Any) -> str:
    return (iso_z(value) or "") if isinstance(value, datetime) else str(value)


def _entry(e: dict[str, Any], base: str) -> str:
    eid = quote(str(e["event_id"]), safe="")
    page, report = f"{base}/event/{eid}", f"{base}/event/{eid}/report.html"
    updated = _when(e.get("end") or e["start"])
    summary = (
        f"From {_when(e['start'])}; availability {float(e.get('availability', 0)):.0%}; "
        f"{len(e.get('measurements') or ())} measurements. Evidence report: {report}"
    )
    return (
        "<entry>"
        f"<id>urn:blockwatch:event:{escape(str(e['event_id']))}</id>"
        f"<title>{escape(event_title(e))}</title>"
        f"<updated>{escape(updated)}</updated>"
        f"<published>{escape(_when(e['start']))}</published>"
        f'<link rel="alternate" type="text/html" href="{escape(page)}"/>'
        f'<link rel="related" type="text/html" title="evidence report" href="{escape(report)}"/>'
        f'<category term="{escape(str(e["kind"]))}"/>'
        f"<summary>{escape(summary)}</summary>"
        "</entry>"
    )


def atom_feed(events: Sequence[dict[str, Any]], *, base_url: str, self_url: str, title: str) -> str:
    """The feed document; ``base_url`` makes the links absolute, as Atom readers need."""
    base = base_url.rstrip("/")
    updated = max((_when(e.get("end") or e["start"]) for e in events), default=None)
    updated = updated or _when(datetime(2012, 1, 1, tzinfo=UTC))
    entries = "".join(_entry(e, base) for e in events)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{escape(self_url)}</id>"
        f"<title>{escape(title)}</title>"
        f"<updated>{escape(updated)}</updated>"
        f'<link rel="self" href="{escape(self_url)}"/>'
        f'<link rel="alternate" type="text/html" href="{escape(base)}/"/>'
        "<author><name>blockwatch</name></author>"
        f"{entries}</feed>"
    )
