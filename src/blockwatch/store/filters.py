"""The one filter over the store's verdicts and events, and its SQL.

Every command, page and API route that selects data builds a :class:`Filter` (from text with
:meth:`Filter.parse`): ``country``, ``asn``, ``domain``, ``since`` (inclusive) and ``until``
(exclusive) mean the same everywhere (docs/architecture.md, "Filters"). On verdicts the times
bound when a measurement was made; on events they keep the events that overlap the range.

Only column names from this module reach the SQL text; what a user typed is always a bound
parameter, so a filter like ``x' OR 1=1 --`` is just a domain that matches nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blockwatch.errors import FilterError
from blockwatch.times import ONE_DAY, naive_utc, parse_bound, shift

__all__ = ["Filter", "event_where", "normalize_asn", "verdict_where"]


@dataclass(frozen=True, slots=True)
class Filter:
    """Which verdicts or events to read; None means any. Times are UTC (aware or naive).
    ``outcome`` and ``method`` apply to verdicts, ``kind`` to events."""

    country: str | None = None
    asn: str | None = None
    domain: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    method: str | None = None
    kind: str | None = None
    limit: int | None = None

    @classmethod
    def parse(
        cls,
        *,
        country: str | None = None,
        asn: str | None = None,
        domain: str | None = None,
        since: str | None = None,
        until: str | None = None,
        to: str | None = None,
        outcome: str | None = None,
        method: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> Filter:
        """A filter from what a person typed; blank values mean any. ``since``/``until`` are a
        date (its midnight, UTC) or an ISO 8601 time. ``to`` is the dashboard's older spelling
        of the upper bound, where a date includes that whole day. FilterError names a bad
        value."""
        start = _bound("since", since)
        end = _bound("until", until)
        through = _blank(to)
        if end is None and through is not None:
            end = _bound("to", through)
            if end is not None and len(through) == 10:  # a date: through that whole day
                end = shift(end, ONE_DAY)  # through 9999-12-31: to the calendar's last moment
        if start is not None and end is not None and start >= end:
            raise FilterError("until", "must be after since")
        return cls(
            country=_blank(country),
            asn=_blank(asn),
            domain=_blank(domain),
            since=start,
            until=end,
            outcome=_blank(outcome),
            method=_blank(method),
            kind=_blank(kind),
            limit=limit,
        )

    def replace(self, **changes: Any) -> Filter:
        return dataclasses.replace(self, **changes)

    def normalized(self) -> Filter:
        """The same filter with country, network and domain spelled as the store holds them
        ("pk" is "PK", "17557" is "AS17557", "X.com" is "x.com")."""
        return self.replace(
            country=self.country.upper() if self.country is not None else None,
            asn=normalize_asn(self.asn),
            domain=self.domain.lower() if self.domain is not None else None,
        )


def _blank(value: str | None) -> str | None:
    return None if value is None or not value.strip() else value.strip()


def _bound(name: str, value: str | None) -> datetime | None:
    text = _blank(value)
    if text is None:
        return None
    try:
        return parse_bound(text)
    except ValueError as exc:  # it names the accepted forms, or the calendar's limits
        raise FilterError(name, str(exc)) from exc


def normalize_asn(asn: str | int | None) -> str | None:
    """'17557', 17557 and 'as17557' all mean OONI's 'AS17557'."""
    if asn is None:
        return None
    text = str(asn).strip()
    if text[:2].lower() == "as":
        text = text[2:]
    return f"AS{text}" if text.isdigit() else str(asn)


def _target_clauses(f: Filter) -> tuple[list[str], list[Any]]:
    """The clauses verdicts and events share: which country, network and domain."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("probe_cc", f.country), ("probe_asn", f.asn), ("domain", f.domain)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return clauses, params


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def verdict_where(f: Filter) -> tuple[str, list[Any]]:
    """(' WHERE ...' or '', parameters) selecting verdicts (or measurements: the columns
    share their names) made in [since, until)."""
    clauses, params = _target_clauses(f.normalized())
    if f.since is not None:
        clauses.append("measured_at >= ?")
        params.append(naive_utc(f.since))
    if f.until is not None:
        clauses.append("measured_at < ?")
        params.append(naive_utc(f.until))
    if f.outcome is not None:
        clauses.append("outcome = ?")
        params.append(f.outcome)
    if f.method is not None:
        clauses.append("method = ?")
        params.append(f.method)
    return _where(clauses), params


def event_where(f: Filter) -> tuple[str, list[Any]]:
    """(' WHERE ...' or '', parameters) selecting events that overlap [since, until)."""
    clauses, params = _target_clauses(f.normalized())
    if f.since is not None:
        # Ongoing, or ending at or after since.
        clauses.append('("end" IS NULL OR "end" >= ?)')
        params.append(naive_utc(f.since))
    if f.until is not None:
        clauses.append('"start" < ?')
        params.append(naive_utc(f.until))
    if f.kind is not None:
        clauses.append("kind = ?")
        params.append(f.kind)
    return _where(clauses), params
