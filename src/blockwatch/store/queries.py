"""Filters over verdicts and events, turned into SQL whose every value is a bound parameter.

Only column names from this module's fixed tables reach the SQL text; what a user typed is
always a parameter, so a filter like ``x' OR 1=1 --`` is just a domain that matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blockwatch.store.schema import to_db_time


@dataclass(frozen=True, slots=True)
class VerdictFilter:
    """Which verdicts to read; None means any. ``since`` is inclusive, ``until`` exclusive."""

    country: str | None = None
    asn: str | None = None
    domain: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events to read (or replace); ``since`` keeps events still running at that time."""

    country: str | None = None
    asn: str | None = None
    domain: str | None = None
    since: datetime | None = None
    kind: str | None = None


def normalize_asn(asn: str | int | None) -> str | None:
    """'17557', 17557 and 'as17557' all mean OONI's 'AS17557'."""
    if asn is None:
        return None
    text = str(asn).strip()
    if text[:2].lower() == "as":
        text = text[2:]
    return f"AS{text}" if text.isdigit() else str(asn)


def _target_clauses(
    country: str | None, asn: str | None, domain: str | None
) -> tuple[list[str], list[Any]]:
    """The clauses both filters share: which country, network and domain."""
    clauses: list[str] = []
    params: list[Any] = []
    if country is not None:
        clauses.append("probe_cc = ?")
        params.append(country.upper())
    if asn is not None:
        clauses.append("probe_asn = ?")
        params.append(normalize_asn(asn))
    if domain is not None:
        clauses.append("domain = ?")
        params.append(domain.lower())
    return clauses, params


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def verdict_where(f: VerdictFilter) -> tuple[str, list[Any]]:
    """(' WHERE ...' or '', parameters) for a verdict filter."""
    clauses, params = _target_clauses(f.country, f.asn, f.domain)
    if f.since is not None:
        clauses.append("measured_at >= ?")
        params.append(to_db_time(f.since))
    if f.until is not None:
        clauses.append("measured_at < ?")
        params.append(to_db_time(f.until))
    if f.outcome is not None:
        clauses.append("outcome = ?")
        params.append(f.outcome)
    return _where(clauses), params


def event_where(f: EventFilter) -> tuple[str, list[Any]]:
    """(' WHERE ...' or '', parameters) for an event filter."""
    clauses, params = _target_clauses(f.country, f.asn, f.domain)
    if f.since is not None:
        # An event overlaps [since, ∞) when it is ongoing or ends at or after since.
        clauses.append('("end" IS NULL OR "end" >= ?)')
        params.append(to_db_time(f.since))
    if f.kind is not None:
        clauses.append("kind = ?")
        params.append(f.kind)
    return _where(clauses), params
