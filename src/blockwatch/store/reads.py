"""The dashboard's and the report's reads: aggregates, pages and lookups over a Store.

Every query of the web layer lives here, so the store owns all SQL and all raw-text decoding.
Rows come back as plain dicts keyed by column name (the API's JSON), times as naive UTC (what
DuckDB holds). Which rows: one :class:`~blockwatch.store.filters.Filter`; every value reaches
SQL as a bound parameter. Aggregation happens in DuckDB (GROUP BY time_bucket) and lists are
limited, so pages stay fast on millions of verdicts.

Times come back as Python can hold them: DuckDB keeps years past 9999 and +-infinity, which
would reach Python as text, so every time a read returns is held to years 1..9999 in the SQL
(``clamped``), and arithmetic on one goes through ``times.shift``.

Reads go through cursors of the Store's own connection, one per thread: DuckDB refuses a
second connection to a file that this process holds open in another mode.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import duckdb
import orjson

from blockwatch.analysis.records import EVENT_JSONL_FIELDS, VERDICT_JSONL_FIELDS
from blockwatch.errors import StoreError
from blockwatch.store import counts, rawtexts, schema
from blockwatch.store.context import ContextReads
from blockwatch.store.cursor import SqlCursor
from blockwatch.store.filters import Filter, event_where, verdict_where
from blockwatch.store.kept import DEFAULT_MAX_BYTES as DEFAULT_KEPT_BYTES
from blockwatch.store.kept import KeptCursor, KeptResults, Rows, query_rows
from blockwatch.store.rawcodec import decode_text
from blockwatch.store.remote import RemoteStore
from blockwatch.store.store import Store
from blockwatch.times import ONE_DAY, naive_utc, shift

__all__ = ["LIST_LIMIT", "PAGE_SIZE", "Reads", "RowStream"]

PAGE_SIZE: Final = 100
LIST_LIMIT: Final = 500
# Up to this many ids, look rows up one by one in the primary-key index (measured: faster
# than a scan below a few hundred ids on a million rows).
INDEX_LOOKUP_MAX: Final = 300
_ONE_SECOND: Final = timedelta(seconds=1)
_FIRST, _LAST = "TIMESTAMP '0001-01-01'", "TIMESTAMP '9999-12-31 23:59:59.999999'"


def clamped(expr: str) -> str:
    """A TIMESTAMP expression held to what a Python datetime spells (NULL stays NULL; least()
    and greatest() would turn it into a bound)."""
    return (
        f"CASE WHEN {expr} > {_LAST} THEN {_LAST}"
        f" WHEN {expr} < {_FIRST} THEN {_FIRST} ELSE {expr} END"
    )


def _select(fields: Sequence[str], times: Sequence[str]) -> str:
    """Quoted columns for a SELECT, the time columns clamped and keeping their names."""
    quoted = [f'"{n}"' for n in fields]
    return ", ".join(
        f"{clamped(q)} AS {q}" if n in times else q for n, q in zip(fields, quoted, strict=True)
    )


def _clamp_times(select: str, times: Sequence[str]) -> str:
    """A SELECT list (``Store.verdict_select``) with its time columns clamped, keeping their
    names."""
    quoted = {f'"{n}"' for n in times}
    return ", ".join(f"{clamped(c)} AS {c}" if c in quoted else c for c in select.split(", "))


# An event's fields as pages and the API show them: its id list as the list's length (the
# ids of a long event are thousands of strings that no page lists).
EVENT_COLUMNS: Final = _select(schema.EVENT_FIELDS, ("start", "end")).replace(
    '"measurements"', 'len("measurements") AS n_measurements'
)
MEASURED_AT: Final = clamped("measured_at")
_SPAN: Final = f"{clamped('min(measured_at)')} lo, {clamped('max(measured_at)')} hi"
_EVENT_SPAN: Final = _select(("start", "end"), ("start", "end"))
# Over grouped counts (Reads._grouped): the same figures as count(*) and min/max over verdicts.
_BLOCKED: Final = "coalesce(sum(n) FILTER (WHERE outcome = 'blocked'), 0)::BIGINT AS blocked"
_GROUPED_SPAN: Final = f"{clamped('min(first)')} lo, {clamped('max(last)')} hi"
_GROUPED_FIRST_LAST: Final = f"{clamped('min(first)')} AS first, {clamped('max(last)')} AS last"


def _top_method(by: str) -> str:
    """A CTE ``top``: per ``by`` (columns of ``src``), the method of most blocked verdicts,
    ties going to the first by name (so every read of the same data names the same one)."""
    return f"""top AS (
        SELECT {by}, first(method ORDER BY k DESC, method) AS top_method FROM (
            SELECT {by}, method, sum(n) AS k FROM src
            WHERE outcome = 'blocked' AND method IS NOT NULL GROUP BY ALL)
        GROUP BY ALL)"""


Window = tuple[datetime, datetime] | None


def _and(where: str, clause: str) -> str:
    """Add one clause to a ' WHERE ...' string (or start one)."""
    return f"{where} AND {clause}" if where else f" WHERE {clause}"


def _event_row(row: dict[str, Any]) -> dict[str, Any]:
    """An events row for pages and the API: networks decoded, the id list as its length."""
    row = dict(row)
    nets = row.get("networks")
    row["networks"] = orjson.loads(nets) if nets else []
    row["methods"] = list(row.get("methods") or [])
    row["n_measurements"] = int(row.pop("n_measurements", None) or 0)  # last, as before
    return row


class RowStream:
    """The rows of one query, already executed (so a failure comes before the first row),
    then read a batch at a time: an export of any size never sits whole in memory."""

    def __init__(
        self, store: Store | RemoteStore, sql: str, params: list[Any], batch: int = 10_000
    ) -> None:
        self._cur = store.cursor()
        try:
            self._result = self._cur.execute(sql, params)
        except duckdb.Error as exc:
            self._cur.close()
            raise StoreError(f"query failed: {exc}") from exc
        self.columns = [d[0] for d in self._result.description or []]
        self._batch = batch

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        try:
            while chunk := self._result.fetchmany(self._batch):
                yield chunk
        finally:
            self._cur.close()


class Reads(ContextReads):
    """Read-only queries over one Store, safe to share between threads (network names and
    annotations: ContextReads)."""

    def __init__(self, store: Store | RemoteStore) -> None:
        self.store = store
        self._local = threading.local()
        self._raw_columns = store.raw_columns
        self._names = ContextReads.no_names()
        self._verdict_select = _clamp_times(store.verdict_select, ("measured_at",))
        self._kept: KeptResults | None = None

    def _cursor(self) -> SqlCursor:
        cur: SqlCursor | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.store.cursor()
            self._local.cursor = cur
        return cur

    def _reading(self) -> SqlCursor:
        cur = self._cursor()
        return cur if self._kept is None else KeptCursor(self._kept, cur)

    def keep_results(self, max_bytes: int = DEFAULT_KEPT_BYTES) -> None:
        """Keep query results per store state from now on (kept.py), up to ``max_bytes``;
        0 keeps none."""
        self._kept = KeptResults(self.store.path, max_bytes) if max_bytes > 0 else None

    def _query(self, sql: str, params: Sequence[Any]) -> Rows:
        def run() -> Rows:
            try:
                return query_rows(self._cursor(), sql, params)
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

        return run() if self._kept is None else self._kept.rows(sql, params, run)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cols, rows = self._query(sql, params)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return list(self._query(sql, params)[1])

    # -- the whole store -----------------------------------------------------------------

    def data_range(self) -> tuple[datetime | None, datetime | None]:
        row = self._rows(f"SELECT {_SPAN} FROM verdicts")[0]
        return row["lo"], row["hi"]

    def _grouped(self, f: Filter, with_day: bool = False) -> tuple[str, list[Any]]:
        """(a subquery, parameters) of verdict counts (counts.GROUP; n, first, last, and day
        with ``with_day``) selected by ``f``: the kept counts when the store has them, else a
        row per verdict. Every table below aggregates these rows again."""
        timeless = f.since is None and f.until is None
        if self.store.counts_ready and (timeless or self.store.days_pay):
            return counts.source(f, with_day=with_day)
        where, params = verdict_where(f)
        return f"SELECT {counts.verdict_rows(with_day)} FROM verdicts{where}", params

    def countries(self, f: Filter) -> list[dict[str, Any]]:
        src, params = self._grouped(f)
        return self._rows(
            f"""SELECT probe_cc, sum(n)::BIGINT AS n, {_BLOCKED},
                   count(DISTINCT probe_asn) AS networks, count(DISTINCT domain) AS domains,
                   {_GROUPED_FIRST_LAST}
                FROM ({src}) GROUP BY probe_cc ORDER BY probe_cc""",
            params,
        )

    def events(
        self,
        f: Filter,
        *,
        with_network_wide: bool = False,
        ongoing: bool = False,
        top_level: bool = False,
        limit: int = LIST_LIMIT,
    ) -> list[dict[str, Any]]:
        """Events matching ``f``, newest first. ``with_network_wide``: a domain filter also
        keeps outages of whole networks (domain NULL), which matter to every domain."""
        where, params = event_where(f.replace(domain=None) if with_network_wide else f)
        if with_network_wide and f.domain is not None:
            where = _and(where, "(domain = ? OR domain IS NULL)")
            params.append(f.normalized().domain)
        if ongoing:
            where = _and(where, '"end" IS NULL')
        if top_level:
            where = _and(where, "parent_event_id IS NULL")
        rows = self._rows(
            f'SELECT {EVENT_COLUMNS} FROM events{where} ORDER BY "start" DESC, event_id LIMIT ?',
            [*params, limit],
        )
        return [_event_row(r) for r in rows]

    # -- a country, a network ------------------------------------------------------------

    def has_country(self, cc: str) -> bool:
        return self._exists(Filter(country=cc))

    def has_network(self, asn: str) -> bool:
        return self._exists(Filter(asn=asn))

    def _exists(self, f: Filter) -> bool:
        vwhere, vparams = verdict_where(f)
        ewhere, eparams = event_where(f)
        return bool(self._fetch(f"SELECT 1 FROM verdicts{vwhere} LIMIT 1", vparams)) or bool(
            self._fetch(f"SELECT 1 FROM events{ewhere} LIMIT 1", eparams)
        )

    def country_networks(self, f: Filter) -> list[dict[str, Any]]:
        """Per network of the filter's country: measurements, blocked, domains blocked."""
        src, params = self._grouped(f)
        return self._rows(
            f"""SELECT probe_asn, sum(n)::BIGINT AS n, {_BLOCKED},
                   count(DISTINCT domain) FILTER (WHERE outcome = 'blocked') AS domains_blocked,
                   {_GROUPED_FIRST_LAST}
                FROM ({src})
                GROUP BY probe_asn ORDER BY blocked DESC, probe_asn LIMIT ?""",
            [*params, LIST_LIMIT],
        )

    def country_domains(self, f: Filter) -> list[dict[str, Any]]:
        """Per domain of the filter's country: measurements, blocked, networks blocking,
        and the method blocking most of them (ties: the first by name)."""
        src, params = self._grouped(f)
        return self._rows(
            f"""WITH src AS MATERIALIZED ({src}),
                {_top_method("domain")}
                SELECT g.*, t.top_method FROM (
                    SELECT domain, sum(n)::BIGINT AS n, {_BLOCKED},
                       count(DISTINCT probe_asn) FILTER (WHERE outcome = 'blocked')
                         AS networks_blocked
                    FROM src GROUP BY domain) g
                LEFT JOIN top t ON g.domain IS NOT DISTINCT FROM t.domain
                ORDER BY g.blocked * 1.0 / g.n DESC, g.domain LIMIT ?""",
            [*params, LIST_LIMIT],
        )

    def network_domains(self, f: Filter) -> list[dict[str, Any]]:
        """Per (country, domain) of the filter's network: measurements, blocked, down, and
        the method blocking most (ties: the first by name)."""
        src, params = self._grouped(f)
        return self._rows(
            f"""WITH src AS MATERIALIZED ({src}),
                {_top_method("probe_cc, domain")}
                SELECT g.*, t.top_method FROM (
                    SELECT probe_cc, domain, sum(n)::BIGINT AS n, {_BLOCKED},
                       coalesce(sum(n) FILTER (WHERE outcome = 'down'), 0)::BIGINT AS down
                    FROM src GROUP BY probe_cc, domain) g
                LEFT JOIN top t ON g.probe_cc IS NOT DISTINCT FROM t.probe_cc
                   AND g.domain IS NOT DISTINCT FROM t.domain
                ORDER BY g.blocked * 1.0 / g.n DESC, g.domain LIMIT ?""",
            [*params, LIST_LIMIT],
        )

    # -- timelines -----------------------------------------------------------------------

    def span(self, f: Filter) -> tuple[datetime, datetime] | None:
        """The filter's time range, each open side closed by the data (None: no data)."""
        src, params = self._grouped(f)
        row = self._rows(f"SELECT {_GROUPED_SPAN} FROM ({src})", params)[0]
        if row["lo"] is None:
            return None
        start = naive_utc(f.since) if f.since is not None else row["lo"]
        end = naive_utc(f.until) if f.until is not None else shift(row["hi"], _ONE_SECOND)
        return start, end

    def timeline(
        self, f: Filter, bucket: timedelta, by_network: bool = True
    ) -> list[dict[str, Any]]:
        """Counts per (network, bucket, outcome, method) of the verdicts matching ``f``."""
        key = "probe_asn" if by_network else "'all'"
        if self.store.counts_ready and counts.day_aligned(bucket):
            # Buckets of whole days start at midnight: each day's counts fall in one.
            src, params = counts.source(f, with_day=True)
            at = clamped("CAST(day AS TIMESTAMP)")
            return self._rows(
                f"""SELECT {key} AS series, time_bucket(?, {at}) AS bucket,
                       outcome, method, sum(n)::BIGINT AS n
                    FROM ({src}) GROUP BY ALL ORDER BY series, bucket, outcome, method""",
                [bucket, *params],
            )
        where, params = verdict_where(f)
        return self._rows(
            f"""SELECT {key} AS series, time_bucket(?, {MEASURED_AT}) AS bucket,
                   outcome, method, count(*) AS n
                FROM verdicts{where}
                GROUP BY ALL ORDER BY series, bucket, outcome, method""",
            [bucket, *params],
        )

    # -- events --------------------------------------------------------------------------

    def event(self, event_id: str) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?", [event_id])
        return _event_row(rows[0]) if rows else None

    def child_events(self, event_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE parent_event_id = ? ORDER BY probe_asn",
            [event_id],
        )
        return [_event_row(r) for r in rows]

    def event_measurement_ids(self, event_id: str) -> list[str]:
        """The ids of the measurements an event rests on."""
        rows = self._fetch("SELECT measurements FROM events WHERE event_id = ?", [event_id])
        return list(rows[0][0] or []) if rows else []

    def event_window(self, ev: dict[str, Any]) -> tuple[datetime, datetime]:
        """A time range expected to hold an event's measurements (a hint: see _by_ids)."""
        end = ev["end"] or self.data_range()[1] or ev["start"]
        return shift(ev["start"], -ONE_DAY), shift(end, ONE_DAY)

    def event_basis_ids(self, ev: dict[str, Any], parts: list[dict[str, Any]]) -> list[str]:
        """Every measurement behind an event's figures: the ids it stores (its blocked
        measurements) and every conclusive measurement (ok or blocked) of each network's
        series from the network's first blocked measurement to its last, or to the end of the
        data while ongoing: the ones that got through are what its availability counts."""
        ids = set(self.event_measurement_ids(ev["event_id"]))
        spans = [p for p in parts or [ev] if p["probe_asn"] is not None and p["domain"]]
        if not spans:
            return sorted(ids)  # a whole network's outage: its own ids are its basis
        data_end = self.data_range()[1] if any(p["end"] is None for p in spans) else None
        # One scan for every network: (network, span) pairs OR'ed under the common target.
        clauses, params = [], [ev["probe_cc"], spans[0]["domain"]]
        for p in spans:
            clauses.append("(probe_asn = ? AND measured_at BETWEEN ? AND ?)")
            params += [p["probe_asn"], p["start"], p["end"] or data_end or p["start"]]
        rows = self._fetch(
            "SELECT measurement_id FROM verdicts WHERE probe_cc = ? AND domain = ?"
            f" AND outcome IN ('ok', 'blocked') AND ({' OR '.join(clauses)})",
            params,
        )
        ids.update(r[0] for r in rows)
        return sorted(ids)

    def event_measurements(
        self, ev: dict[str, Any], *, limit: int = PAGE_SIZE, offset: int = 0
    ) -> list[dict[str, Any]]:
        """One page of the supporting measurements' verdicts, oldest first: one query, which
        orders the event's rows and returns the page's (a window of the event's time prunes
        the scan; ``found`` says whether it held every id, else the whole table is read)."""
        ids = sorted(set(self.event_measurement_ids(ev["event_id"])))
        if offset >= len(ids):
            return []  # past the end (and not a window that missed: no scan for it)
        page = " ORDER BY measured_at, measurement_id LIMIT ? OFFSET ?"
        if len(ids) <= INDEX_LOOKUP_MAX:
            marks = ", ".join("?" * len(ids))
            return self._rows(
                f"SELECT {self._verdict_select} FROM verdicts WHERE measurement_id IN ({marks})"
                + page,
                [*ids, limit, offset],
            )
        sql = (
            f"SELECT {self._verdict_select}, count(*) OVER () AS found FROM verdicts"
            " WHERE {} measurement_id IN (SELECT unnest(?::VARCHAR[]))" + page
        )
        rows = self._rows(
            sql.format("measured_at BETWEEN ? AND ? AND"),
            [*self.event_window(ev), ids, limit, offset],
        )
        if not rows or rows[0]["found"] != len(ids):
            rows = self._rows(sql.format(""), [ids, limit, offset])
        for row in rows:
            del row["found"]
        return rows

    def events_of_measurement(self, measurement_id: str) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT event_id, kind, probe_asn, domain, {_EVENT_SPAN} FROM events"
            ' WHERE list_contains(measurements, ?) ORDER BY "start"',
            [measurement_id],
        )

    # -- verdicts and measurements -------------------------------------------------------

    def _by_ids(
        self, columns: str, table: str, ids: list[str], window: Window, order: str = ""
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` for these ids.

        A few ids go as an IN list of parameters, which DuckDB answers from the primary-key
        index. Many ids go as a semi-join, which scans the table: a time window that should
        hold them prunes that scan (DuckDB skips row groups by min/max), and when the window
        misses some ids we scan everything instead.
        """
        ids = sorted(set(ids))
        if not ids:
            return []
        if len(ids) <= INDEX_LOOKUP_MAX:
            marks = ", ".join("?" * len(ids))
            return self._rows(
                f"SELECT {columns} FROM {table} WHERE measurement_id IN ({marks}){order}", ids
            )
        sql = (
            f"SELECT {columns} FROM {table} WHERE {{}} measurement_id IN"
            f" (SELECT unnest(?::VARCHAR[])){order}"
        )
        if window is not None:
            rows = self._rows(sql.format("measured_at BETWEEN ? AND ? AND"), [*window, ids])
            if len(rows) == len(ids):
                return rows
        return self._rows(sql.format(""), [ids])

    def verdicts_by_ids(self, ids: list[str], window: Window = None) -> list[dict[str, Any]]:
        """Verdicts of these ids, oldest first."""
        return self._by_ids(
            self._verdict_select,
            "verdicts",
            ids,
            window,
            " ORDER BY measured_at, measurement_id",
        )

    def verdict(self, measurement_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            f"SELECT {self._verdict_select} FROM verdicts WHERE measurement_id = ?",
            [measurement_id],
        )
        if not rows:
            return None
        row = rows[0]
        row["evidence"] = list(row["evidence"] or [])
        return row

    def verdict_keys(self, f: Filter) -> list[tuple[str, datetime]]:
        """(measurement_id, measured_at) of every verdict matching ``f``."""
        where, params = verdict_where(f)
        return [
            (r[0], r[1])
            for r in self._fetch(
                f"SELECT measurement_id, {MEASURED_AT} FROM verdicts{where}", params
            )
        ]

    def verdict_page(self, f: Filter, page: int) -> list[dict[str, Any]]:
        """One page of the verdicts matching ``f`` (the export fields), oldest first."""
        where, params = verdict_where(f)
        cols = schema.column_list(VERDICT_JSONL_FIELDS)
        return self._rows(
            f"SELECT {cols} FROM verdicts{where} ORDER BY measured_at, measurement_id"
            " LIMIT ? OFFSET ?",
            [*params, PAGE_SIZE, (page - 1) * PAGE_SIZE],
        )

    def verdict_stream(self, f: Filter) -> RowStream:
        """Every verdict matching ``f`` (the export fields), oldest first, in batches."""
        where, params = verdict_where(f)
        cols = schema.column_list(VERDICT_JSONL_FIELDS)
        sql = f"SELECT {cols} FROM verdicts{where} ORDER BY measured_at, measurement_id"
        return RowStream(self.store, sql, params)

    def event_stream(self, f: Filter) -> RowStream:
        """Every event overlapping ``f`` (the export fields), by start, in batches."""
        where, params = event_where(f)
        cols = schema.column_list(EVENT_JSONL_FIELDS)
        return RowStream(
            self.store, f'SELECT {cols} FROM events{where} ORDER BY "start", event_id', params
        )

    def raw_measurement(self, measurement_id: str) -> dict[str, Any] | None:
        try:
            text = self.raw_measurements([measurement_id]).get(measurement_id)
            return None if text is None else decode_text(text)
        except StoreError as exc:
            raise StoreError(f"measurement {measurement_id}: raw JSON unreadable") from exc

    def raw_measurements(self, ids: list[str], window: Window = None) -> dict[str, bytes]:
        """Decompressed raw JSON bytes by id, for the ids that have them (the report hashes
        them). ``window`` prunes the scan as in :meth:`_by_ids`."""
        if not ids:
            return {}
        rows = self._by_ids(f"measurement_id, {self._raw_columns}", "measurements", ids, window)
        return rawtexts.texts(self._fetch, [tuple(r.values()) for r in rows])
