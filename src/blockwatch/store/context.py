"""The words around the measurements: network names and annotations (schema 4).

Both tables are small. A store written before schema 4 lacks them until its first writable
open; a read-only open of one reads them as empty, so older stores stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import duckdb

from blockwatch.analysis.records import Annotation, Event
from blockwatch.errors import StoreError
from blockwatch.store import schema
from blockwatch.store.cursor import SqlCursor

__all__ = [
    "NAMES_TTL",
    "ContextReads",
    "clean_name",
    "has_table",
    "network_names",
    "read_annotations",
    "top_censorship_events",
    "trace_rows",
    "write_annotations",
    "write_network_names",
]

# Network names are read for every network shown on a page: kept this long between reads.
NAMES_TTL: Final = 5.0
# The test name of `blockwatch trace`'s measurements (probe.trace.TEST_NAME).
TRACE_TEST: Final = "blockwatch_trace"
TRACE_LIMIT: Final = 50
_UPSERT_NAME: Final = "INSERT OR REPLACE INTO network_names VALUES (?, ?, ?, ?)"
_ANNOTATION_COLUMNS: Final = schema.column_list(schema.ANNOTATION_FIELDS)
_UPSERT_ANNOTATION: Final = (
    f"INSERT OR REPLACE INTO annotations ({_ANNOTATION_COLUMNS})"
    f" VALUES ({', '.join('?' * len(schema.ANNOTATION_FIELDS))})"
)


def has_table(con: SqlCursor, table: str) -> bool:
    sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'"
    row = con.execute(sql, [table]).fetchone()
    return bool(row and row[0])


def clean_name(value: Any) -> str | None:
    """A network name as a measurement carries it: a non-empty string, trimmed, or None
    (the field is untrusted: any other type is no name)."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())[:200]
    return text or None


def write_network_names(
    con: duckdb.DuckDBPyConnection, names: Mapping[str, str], source: str
) -> None:
    """Set the name of each AS (inside the caller's transaction); the latest wins. A name
    stored already from the same source is left as it is: every batch of a live collector
    names its networks again, and an upsert costs more than the read (bench: ~20 ms each
    inside an ingest transaction, against one read of all of them)."""
    if not names:
        return
    asns = sorted(names)
    marks = ", ".join("?" * len(asns))
    stored = con.execute(
        f"SELECT probe_asn, name, source FROM network_names WHERE probe_asn IN ({marks})", asns
    ).fetchall()
    same = {asn for asn, name, was in stored if name == names.get(asn) and was == source}
    now = datetime.now(UTC).replace(tzinfo=None)
    for asn in asns:
        if asn not in same:
            con.execute(_UPSERT_NAME, [asn, names[asn], source, now])


def network_names(con: SqlCursor) -> dict[str, str]:
    """AS number ("AS17557") -> name, for every named network."""
    if not has_table(con, "network_names"):
        return {}
    rows = con.execute("SELECT probe_asn, name FROM network_names").fetchall()
    return {asn: name for asn, name in rows}


def write_annotations(con: duckdb.DuckDBPyConnection, items: Iterable[Annotation]) -> int:
    """Insert or replace annotations by id (inside the caller's transaction)."""
    n = 0
    for a in items:
        con.execute(_UPSERT_ANNOTATION, list(schema.record_to_row(a)))
        n += 1
    return n


def read_annotations(
    con: SqlCursor, country: str | None = None, domains: Iterable[str] = ()
) -> list[Annotation]:
    """Annotations by date: those of ``country`` (and the worldwide ones) when given, and of
    any of ``domains`` (and those naming no domain) when given."""
    where: list[str] = []
    params: list[Any] = []
    if country:
        where.append("(probe_cc IS NULL OR probe_cc = ?)")
        params.append(country.upper())
    wanted = sorted({d.lower() for d in domains})
    if wanted:
        where.append("(len(domains) = 0 OR list_has_any(domains, ?::VARCHAR[]))")
        params.append(wanted)
    sql = f"SELECT {_ANNOTATION_COLUMNS} FROM annotations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    try:
        rows = con.execute(sql + " ORDER BY start, annotation_id", params).fetchall()
    except duckdb.Error:
        # A store that never had an annotation has no table for them (asked only then: the
        # check is a query of its own on every page).
        if not has_table(con, "annotations"):
            return []
        raise
    return [schema.row_to_annotation(r) for r in rows]


def top_censorship_events(con: SqlCursor, country: str | None) -> list[Event]:
    """Top-level censorship events (of one country when given), the input of the
    service-level view (analysis.services), without their measurement ids."""
    # Without their measurement ids (the service view counts networks and time, not ids:
    # thousands of strings per event that nothing reads).
    fields = schema.column_list(schema.EVENT_FIELDS).replace(
        '"measurements"', '[]::VARCHAR[] AS "measurements"'
    )
    sql = f"SELECT {fields} FROM events WHERE kind = 'censorship' AND parent_event_id IS NULL"
    params: list[Any] = []
    if country:
        sql += " AND probe_cc = ?"
        params.append(country.upper())
    rows = con.execute(sql + " ORDER BY start, event_id", params).fetchall()
    return [schema.row_to_event(r) for r in rows]


def trace_rows(
    con: SqlCursor,
    country: str,
    domain: str,
    asns: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """The ``blockwatch_trace`` measurements of ``domain`` in ``country`` (on ``asns`` when
    given) made in [since, until] (None: open), newest first, at most TRACE_LIMIT."""
    where = ["test_name = ?", "probe_cc = ?", "domain = ?"]
    params: list[Any] = [TRACE_TEST, country.upper(), domain.lower()]
    if asns:
        where.append("list_contains(?::VARCHAR[], probe_asn)")
        params.append(sorted(set(asns)))
    if since is not None:
        where.append("measured_at >= ?")
        params.append(since)
    if until is not None:
        where.append("measured_at <= ?")
        params.append(until)
    res = con.execute(
        "SELECT measurement_id, measured_at, probe_cc, probe_asn, input FROM verdicts"
        f" WHERE {' AND '.join(where)} ORDER BY measured_at DESC, measurement_id LIMIT ?",
        [*params, TRACE_LIMIT],
    )
    cols = [d[0] for d in res.description or []]
    return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]


class ContextReads:
    """The dashboard's reads of names and annotations (mixed into store.reads.Reads, which
    provides a cursor per thread)."""

    _names: tuple[float, dict[str, str]]
    _fallback: Callable[[str], str | None] | None = None

    @staticmethod
    def no_names() -> tuple[float, dict[str, str]]:
        return (-NAMES_TTL, {})

    def _reading(self) -> SqlCursor:
        """A cursor for this thread's reads (Reads: one keeping results, when asked to)."""
        raise NotImplementedError

    def network_names(self) -> dict[str, str]:
        """AS -> the network's name (cached for NAMES_TTL seconds)."""
        at, names = self._names
        if time.monotonic() - at >= NAMES_TTL:
            try:
                names = network_names(self._reading())
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc
            self._names = (time.monotonic(), names)
        return names

    def use_names(self, fallback: Callable[[str], str | None] | None) -> None:
        """Name the networks no measurement named with ``fallback`` (AS -> name: an ASN
        database); the measurements' own names always come first."""
        self._fallback = fallback

    def network_name(self, asn: str | None) -> str | None:
        if not asn:
            return None
        name = self.network_names().get(asn)
        if name is None and self._fallback is not None:
            name = self._fallback(asn)
        return name

    def annotations(self, country: str | None, domains: Sequence[str] = ()) -> list[Annotation]:
        try:
            return read_annotations(self._reading(), country, domains)
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc

    def traces(
        self,
        country: str,
        domain: str,
        asns: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Trace measurements of a domain in a country (``trace_rows``)."""
        try:
            return trace_rows(self._reading(), country, domain, asns, since, until)
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc

    def censorship_events(self, country: str | None = None) -> list[Event]:
        try:
            return top_censorship_events(self._reading(), country)
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc
