"""The home page's answers: "is X blocked in PK?" in one sentence per service and country.

``service_answers(reads, services, q)``: without a question, every service with an ongoing
event; with one ("X in PK", "twitter.com", "PK"), the latest episode of each service and
country it names, ongoing or not. The same dict is the page's context and the API's JSON.
"""

from __future__ import annotations

import re
from typing import Any, Final

from blockwatch.analysis.services import (
    ServiceEvent,
    ServiceTable,
    network_label,
    sentence,
    service_events,
)
from blockwatch.store import Filter, Reads
from blockwatch.times import naive_utc

__all__ = ["MAX_QUESTION", "parse_question", "service_answers"]

MAX_QUESTION: Final = 200
_IN_COUNTRY: Final = re.compile(r"(.+?)\s+(?:in\s+)?([A-Za-z]{2})", re.IGNORECASE)


def parse_question(q: str, services: ServiceTable) -> tuple[str, str | None]:
    """(what: a service or domain, or "" for any; country code or None) from a search."""
    text = " ".join(q.split())[:MAX_QUESTION]
    # "X in PK", "X PK", or "X" alone; a country alone ("PK") unless a service has that name.
    if m := _IN_COUNTRY.fullmatch(text):
        return m.group(1), m.group(2).upper()
    if len(text) == 2 and text.isalpha() and not services.find(text):
        return "", text.upper()
    return text, None


def _answer(e: ServiceEvent, measured: int, names: dict[str, str]) -> dict[str, Any]:
    return {
        "service": e.service,
        "probe_cc": e.probe_cc,
        "sentence": sentence(e, measured, names),
        "ongoing": e.ongoing,
        "start": naive_utc(e.start),
        "end": naive_utc(e.end) if e.end else None,
        "networks": [{"probe_asn": a, "name": network_label(a, names)} for a in e.networks],
        "networks_measured": measured,
        "domains": list(e.domains),
        "methods": list(e.methods),
        "availability": e.availability,
        "intermittent": e.intermittent,
        "event_ids": list(e.event_ids),
    }


def service_answers(
    r: Reads,
    services: ServiceTable,
    q: str | None,
    countries: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The answers for the home page (see the module doc). ``countries``: the store's
    countries (Reads.countries over no filter) when the caller has read them already."""
    what, cc = parse_question(q, services) if q and q.strip() else ("", None)
    asked = bool(q and q.strip())
    wanted = {s.name for s in services.find(what)} if what else None
    found = [
        e
        for e in service_events(r.censorship_events(cc), services)
        if (asked or e.ongoing) and (wanted is None or e.service in wanted)
    ]
    rows = r.countries(Filter()) if countries is None else countries
    measured = {row["probe_cc"]: int(row["networks"]) for row in rows}
    # The measurements' names, else the ASN database's (Reads.network_name).
    names = {a: n for e in found for a in e.networks if (n := r.network_name(a))}
    answers = [_answer(e, measured.get(e.probe_cc, 0), names) for e in found]
    note = None
    if asked and not answers:
        if what and not wanted:
            note = f"No service is named {what!r} (services.toml lists the names and domains)."
        else:
            where = f" in {cc}" if cc else ""
            note = f"No censorship event of {what or 'any service'}{where} in the store."
    return {"q": q or "", "service": what, "probe_cc": cc, "answers": answers, "note": note}
