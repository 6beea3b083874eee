"""Every query the dashboard and the report make, over a read-only DuckDB connection.

The server never writes: the connection is opened with ``read_only=True`` (a shared file
lock, so other readers can open the store while we serve it). Every value reaching SQL is a
bound parameter; the only text spliced into SQL comes from fixed whitelists (bucket sizes).
Aggregation happens in DuckDB (GROUP BY time_bucket) and lists are limited, so pages stay fast
on millions of verdicts.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from blockwatch.errors import StoreError
from blockwatch.store import rawtexts
from blockwatch.store.rawcodec import decode_text
from blockwatch.web.filters import BUCKETS, Filters

PAGE_SIZE = 100
LIST_LIMIT = 500
# Up to this many ids, look rows up one by one in the primary-key index (measured: faster
# than a scan below a few hundred ids on a million rows).
INDEX_LOOKUP_MAX = 300


def _event_row(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    nets = row.get("networks")
    row["networks"] = orjson.loads(nets) if nets else []
    row["methods"] = list(row.get("methods") or [])
    row["n_measurements"] = len(row.get("measurements") or [])
    row.pop("measurements", None)
    return row


EVENT_COLUMNS = (
    'event_id, kind, probe_cc, probe_asn, domain, "start", "end", methods, availability,'
    " confidence, measurements, networks, parent_event_id"
)
VERDICT_COLUMNS = (
    "measurement_id, measured_at, probe_cc, probe_asn, input, domain, test_name, outcome,"
    " method, confidence, confirmed, evidence, fingerprint, ooni_blocking, ooni_disagrees"
)


class Queries:
    """The dashboard's read path: one read-only connection, one cursor per thread."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        if not self.db_path.is_file():
            raise StoreError(f"{self.db_path}: no such store (run ingest/analysis first)")
        try:
            self._conn = duckdb.connect(str(self.db_path), read_only=True)
        except duckdb.Error as exc:
            raise StoreError(f"{self.db_path}: cannot open read-only: {exc}") from exc
        self._local = threading.local()
        tables = {r["table_name"] for r in self.rows("SELECT table_name FROM duckdb_tables()")}
        missing = {"verdicts", "events", "measurements"} - tables
        if missing:
            self._conn.close()
            raise StoreError(f"{self.db_path} is not a blockwatch store (no {sorted(missing)})")
        self._raw_columns = rawtexts.raw_columns(self._fetch)

    def close(self) -> None:
        self._conn.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.cursor = cur
        return cur

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        try:
            res = self._cursor().execute(sql, params or [])
            cols = [d[0] for d in res.description]
            return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc

    def iter_rows(self, sql: str, params: list[Any], batch: int = 10_000):
        """Yield (columns, rows) batches: CSV export streams without holding everything."""
        cur = self._conn.cursor()
        try:
            res = cur.execute(sql, params)
            cols = [d[0] for d in res.description]
            while chunk := res.fetchmany(batch):
                yield cols, chunk
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc
        finally:
            cur.close()

    # -- overview ------------------------------------------------------------------------

    def data_range(self) -> tuple[datetime | None, datetime | None]:
        row = self.rows("SELECT min(measured_at) lo, max(measured_at) hi FROM verdicts")[0]
        return row["lo"], row["hi"]

    def countries(self, f: Filters) -> list[dict[str, Any]]:
        where, params = f.sql()
        return self.rows(
            f"""SELECT probe_cc, count(*) AS n,
                   count(*) FILTER (WHERE outcome = 'blocked') AS blocked,
                   count(DISTINCT probe_asn) AS networks, count(DISTINCT domain) AS domains,
                   min(measured_at) AS first, max(measured_at) AS last
                FROM verdicts WHERE {where} GROUP BY probe_cc ORDER BY probe_cc""",
            params,
        )

    def events(
        self,
        f: Filters,
        *,
        cc: str | None = None,
        asn: str | None = None,
        domain: str | None = None,
        kind: str | None = None,
        with_network_wide: bool = False,
        ongoing: bool = False,
        top_level: bool = False,
        limit: int = LIST_LIMIT,
    ) -> list[dict[str, Any]]:
        where, params = f.events_sql()
        for col, val in (("probe_cc", cc), ("probe_asn", asn), ("kind", kind)):
            if val is not None:
                where += f" AND {col} = ?"
                params.append(val)
        if domain is not None:
            # Network-wide outages (domain NULL) matter to every domain's timeline.
            where += " AND (domain = ? OR domain IS NULL)" if with_network_wide else \
                " AND domain = ?"
            params.append(domain)
        if ongoing:
            where += ' AND "end" IS NULL'
        if top_level:
            where += " AND parent_event_id IS NULL"
        rows = self.rows(
            f'SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY "start" DESC, event_id'
            " LIMIT ?",
            [*params, limit],
        )
        return [_event_row(r) for r in rows]

    # -- a country -----------------------------------------------------------------------

    def has_country(self, cc: str) -> bool:
        return bool(self.rows("SELECT 1 FROM verdicts WHERE probe_cc = ? LIMIT 1", [cc])) or bool(
            self.rows("SELECT 1 FROM events WHERE probe_cc = ? LIMIT 1", [cc])
        )

    def country_networks(self, cc: str, f: Filters) -> list[dict[str, Any]]:
        where, params = f.sql()
        return self.rows(
            f"""SELECT probe_asn, count(*) AS n,
                   count(*) FILTER (WHERE outcome = 'blocked') AS blocked,
                   count(DISTINCT domain) FILTER (WHERE outcome = 'blocked') AS domains_blocked,
                   min(measured_at) AS first, max(measured_at) AS last
                FROM verdicts WHERE probe_cc = ? AND {where}
                GROUP BY probe_asn ORDER BY blocked DESC, probe_asn LIMIT ?""",
            [cc, *params, LIST_LIMIT],
        )

    def country_domains(self, cc: str, f: Filters) -> list[dict[str, Any]]:
        where, params = f.sql()
        return self.rows(
            f"""SELECT domain, count(*) AS n,
                   count(*) FILTER (WHERE outcome = 'blocked') AS blocked,
                   count(DISTINCT probe_asn) FILTER (WHERE outcome = 'blocked') AS networks_blocked,
                   mode(method) FILTER (WHERE outcome = 'blocked') AS top_method
                FROM verdicts WHERE probe_cc = ? AND {where}
                GROUP BY domain ORDER BY blocked * 1.0 / count(*) DESC, domain LIMIT ?""",
            [cc, *params, LIST_LIMIT],
        )

    # -- timelines -----------------------------------------------------------------------

    def span(self, where: str, params: list[Any], f: Filters) -> tuple[datetime, datetime] | None:
        fw, fp = f.sql()
        row = self.rows(
            f"SELECT min(measured_at) lo, max(measured_at) hi FROM verdicts WHERE {where} AND {fw}",
            [*params, *fp],
        )[0]
        if row["lo"] is None:
            return None
        return f.start or row["lo"], f.end or row["hi"] + timedelta(seconds=1)

    def timeline(
        self, where: str, params: list[Any], f: Filters, bucket: str, by_network: bool = True
    ) -> list[dict[str, Any]]:
        """Counts per (network, bucket, outcome, method) for the rows matching ``where``."""
        interval = BUCKETS[bucket][0]
        fw, fp = f.sql()
        key = "probe_asn" if by_network else "'all'"
        return self.rows(
            f"""SELECT {key} AS series, time_bucket({interval}, measured_at) AS bucket,
                   outcome, method, count(*) AS n
                FROM verdicts WHERE {where} AND {fw}
                GROUP BY ALL ORDER BY series, bucket""",
            [*params, *fp],
        )

    # -- a network -----------------------------------------------------------------------

    def network_domains(self, asn: str, f: Filters) -> list[dict[str, Any]]:
        where, params = f.sql()
        return self.rows(
            f"""SELECT probe_cc, domain, count(*) AS n,
                   count(*) FILTER (WHERE outcome = 'blocked') AS blocked,
                   count(*) FILTER (WHERE outcome = 'down') AS down,
                   mode(method) FILTER (WHERE outcome = 'blocked') AS top_method
                FROM verdicts WHERE probe_asn = ? AND {where}
                GROUP BY probe_cc, domain
                ORDER BY blocked * 1.0 / count(*) DESC, domain LIMIT ?""",
            [asn, *params, LIST_LIMIT],
        )

    def has_network(self, asn: str) -> bool:
        return bool(self.rows("SELECT 1 FROM verdicts WHERE probe_asn = ? LIMIT 1", [asn])) or bool(
            self.rows("SELECT 1 FROM events WHERE probe_asn = ? LIMIT 1", [asn])
        )

    # -- an event ------------------------------------------------------------------------

    def event(self, event_id: str) -> dict[str, Any] | None:
        rows = self.rows(f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?", [event_id])
        return _event_row(rows[0]) if rows else None

    def child_events(self, event_id: str) -> list[dict[str, Any]]:
        rows = self.rows(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE parent_event_id = ? ORDER BY probe_asn",
            [event_id],
        )
        return [_event_row(r) for r in rows]

    def event_window(self, ev: dict[str, Any]) -> tuple[datetime, datetime]:
        """A time range expected to hold an event's measurements (a hint: see by_ids)."""
        end = ev["end"] or self.data_range()[1] or ev["start"]
        return ev["start"] - timedelta(days=1), end + timedelta(days=1)

    def _by_ids(
        self, columns: str, table: str, ids: list[str],
        window: tuple[datetime, datetime] | None, order: str = "",
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
            return self.rows(
                f"SELECT {columns} FROM {table} WHERE measurement_id IN ({marks}){order}", ids
            )
        sql = f"SELECT {columns} FROM {table} WHERE {{}} measurement_id IN" \
              f" (SELECT unnest(?::VARCHAR[])){order}"
        if window is not None:
            rows = self.rows(sql.format("measured_at BETWEEN ? AND ? AND"), [*window, ids])
            if len(rows) == len(ids):
                return rows
        return self.rows(sql.format(""), [ids])

    def verdicts_by_ids(
        self, ids: list[str], window: tuple[datetime, datetime] | None = None
    ) -> list[dict[str, Any]]:
        """Verdicts of these ids, oldest first."""
        return self._by_ids(VERDICT_COLUMNS, "verdicts", ids, window,
                            " ORDER BY measured_at, measurement_id")

    def event_measurements(
        self, ev: dict[str, Any], *, limit: int = PAGE_SIZE, offset: int = 0
    ) -> list[dict[str, Any]]:
        """One page of the supporting measurements' verdicts, oldest first."""
        ids = self.rows("SELECT measurements FROM events WHERE event_id = ?", [ev["event_id"]])
        all_ids = list(ids[0]["measurements"] or []) if ids else []
        # Order all ids cheaply (two columns), then fetch whole rows for one page only.
        keys = self._by_ids("measurement_id, measured_at", "verdicts", all_ids,
                            self.event_window(ev), " ORDER BY measured_at, measurement_id")
        page = keys[offset:offset + limit]
        if not page:
            return []
        window = (page[0]["measured_at"], page[-1]["measured_at"])
        return self.verdicts_by_ids([r["measurement_id"] for r in page], window)

    # -- a measurement -------------------------------------------------------------------

    def verdict(self, measurement_id: str) -> dict[str, Any] | None:
        rows = self.rows(
            f"SELECT {VERDICT_COLUMNS} FROM verdicts WHERE measurement_id = ?", [measurement_id]
        )
        if not rows:
            return None
        row = rows[0]
        row["evidence"] = list(row["evidence"] or [])
        return row

    def raw_measurement(self, measurement_id: str) -> dict[str, Any] | None:
        try:
            text = self.raw_measurements([measurement_id]).get(measurement_id)
            return None if text is None else decode_text(text)
        except StoreError as exc:
            raise StoreError(f"measurement {measurement_id}: raw JSON unreadable") from exc

    def raw_measurements(
        self, ids: list[str], window: tuple[datetime, datetime] | None = None
    ) -> dict[str, bytes]:
        """Decompressed raw JSON bytes by id, for the ids that have them (the report hashes
        them). ``window`` prunes the scan as in :meth:`_by_ids`."""
        if not ids:
            return {}
        rows = self._by_ids(
            f"measurement_id, {self._raw_columns}", "measurements", ids, window
        )
        return rawtexts.texts(self._fetch, [tuple(r.values()) for r in rows])

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._cursor().execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc

    def events_of_measurement(self, measurement_id: str) -> list[dict[str, Any]]:
        return self.rows(
            'SELECT event_id, kind, probe_asn, domain, "start", "end" FROM events'
            " WHERE list_contains(measurements, ?) ORDER BY \"start\"",
            [measurement_id],
        )

    # -- exports -------------------------------------------------------------------------

    def verdicts_where(
        self,
        f: Filters,
        *,
        cc: str | None = None,
        asn: str | None = None,
        domain: str | None = None,
        outcome: str | None = None,
        method: str | None = None,
        ids: list[str] | None = None,
    ) -> tuple[str, list[Any]]:
        where, params = f.sql()
        for col, val in (
            ("probe_cc", cc), ("probe_asn", asn), ("domain", domain),
            ("outcome", outcome), ("method", method),
        ):
            if val:
                where += f" AND {col} = ?"
                params.append(val)
        if ids is not None:
            where += " AND measurement_id IN (SELECT unnest(?::VARCHAR[]))"
            params.append(ids)
        return where, params
