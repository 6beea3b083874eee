"""Store: one DuckDB file holding measurements, verdicts, events and ingest bookkeeping.

DuckDB lets one process write a file; readers in other processes open it read-only (the web
dashboard). Every write here is one transaction, so a crash leaves the file as of the last
commit; ingest relies on that plus the measurement_id primary key to be resumable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from blockwatch.analysis.records import Annotation, Event, Verdict
from blockwatch.config import default_db_path
from blockwatch.errors import StoreError
from blockwatch.store import context, counts, external, rawcodec, rawtexts, rows, schema
from blockwatch.store.conflicts import stored_conflicts
from blockwatch.store.filters import Filter, event_where, verdict_where
from blockwatch.store.owner import current_owner

__all__ = ["Store"]

CHECKPOINT_THRESHOLD: Final = "256MB"
# While a bulk load runs (loading_alone). Each checkpoint rewrites the primary-key indexes and
# each table's last row group, a cost that grows with the store: loading 1M measurements'
# Parquet parts took 41-51 us a measurement with 12 checkpoints at 256 MB, 36 with 3 at 1 GB,
# 31 with one at 2 GB (peak RSS 2.5-4.2 GB in all, DuckDB's buffers). A crash replays up to
# this much WAL on the next open.
BULK_CHECKPOINT_THRESHOLD: Final = "2GB"
_ID_CHUNK: Final = 256  # ids per IN list
_NEXT_BLOCK: Final = "SELECT coalesce(max(block_id), 0) + 1 FROM raw_blocks"
_ORDER_VERDICTS: Final = " ORDER BY measured_at, measurement_id"
_ORDER_EVENTS: Final = " ORDER BY start, event_id"
_COUNTED_VIEW: Final = "_bw_counted_verdicts"


def _block_array(blocks: Sequence[bytes] | pa.Array) -> pa.Array | None:
    if isinstance(blocks, pa.Array):
        return blocks if len(blocks) else None
    return pa.array(blocks, pa.binary()) if blocks else None


def _rows_table(
    kind: rows.ArrowRows, data: Sequence[tuple[Any, ...]] | pa.Table
) -> pa.Table | None:
    """Row tuples as ``kind``'s Arrow table; an Arrow table (a bulk load's Parquet part, read
    as it was written) passes as it is."""
    if isinstance(data, pa.Table):
        return data if data.num_rows else None
    return kind.arrow(data) if data else None


class _Conflict(Exception):
    """A row of the batch is in the store already (the batch was rolled back)."""


def _open_error(path: Path, exc: duckdb.Error) -> StoreError:
    """Why a store would not open, in our words: DuckDB's own text names its internals and
    points at its own shell's documentation, which means nothing to a blockwatch user."""
    text = str(exc)
    if "lock" in text.lower():
        owner = current_owner(path)
        if owner is not None:
            return StoreError(
                f"store {path} is served by `blockwatch serve` (pid {owner['pid']})"
                f" at {owner['url']}: use its API and collector, or stop it first"
            )
        # DuckDB allows one writer, and no reader while it writes (DESIGN §7).
        pid = re.search(r"\(PID (\d+)\)", text)
        holder = f" (pid {pid.group(1)})" if pid else ""
        return StoreError(
            f"store {path} is in use by another process{holder}: one writer at a time;"
            " wait for it or use another --db"
        )
    if "not a valid DuckDB database" in text or "not a DuckDB" in text:
        return StoreError(f"{path} is not a blockwatch store (not a DuckDB database file)")
    return StoreError(f"cannot open store {path}: {text.splitlines()[0] if text else exc!r}")


class Store:
    """The blockwatch store over one DuckDB file (created with its tables when absent)."""

    def __init__(self, path: str | Path | None = None, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        self.external = False
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path} (run `blockwatch ingest` first)")
        self._existed = self.path.exists() and self.path.stat().st_size > 0
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc}") from exc
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise _open_error(self.path, exc) from None
        try:
            if read_only:
                self._check_tables()
                self._raw_columns = rawtexts.raw_columns(self._fetch)
                self._counts_ready = counts.ready(self._con)
                self._days_pay = self._counts_ready and counts.days_pay(self._con)
            else:
                self._raw_columns = rawtexts.RAW_COLUMNS
                # The verdict columns to read: all of them once the upgrade below has run.
                self.verdict_select = schema.column_list(schema.VERDICT_FIELDS)
                # DuckDB checkpoints every 16 MB of WAL by default, rewriting the primary-key
                # indexes and the last row group each time and leaving the old blocks free: a
                # 30k measurement ingest made a 198 MB file (55 MB free) instead of 142 MB. A
                # crash replays at most this much WAL on the next open.
                self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
                self._create_tables()
                self._counts_ready = True
                self._counts_rows = counts.rows(self._con)
                self._counts_compacted = dict(self._counts_rows)
                self._days_pay = counts.days_pay(self._con)
            # Measurements kept in Parquet folders (ingest --external): read through views.
            self.external = external.has_external(self._con)
            if self.external:
                external.enter(self._con)
                # The counts cover the store's own verdicts only, not the Parquet ones.
                self._counts_ready = self._days_pay = False
        except BaseException:
            self._con.close()
            raise

    # --- lifecycle ------------------------------------------------------------------------

    def _tables(self) -> set[str]:
        return {r[0] for r in self._fetch("SELECT table_name FROM duckdb_tables()", [])}

    def _create_tables(self) -> None:
        found = self._tables()
        if self._existed and "meta" not in found and "measurements" not in found:
            # Someone else's DuckDB file: never add our tables to it.
            raise StoreError(f"{self.path} is not a blockwatch store (tables {sorted(found)})")
        self._check_version(found)
        with self.transaction() as con:
            for statement in schema.ddl():
                con.execute(statement)
            present = {
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = 'measurements'"
                ).fetchall()
            }
            for statement in schema.upgrade(present):
                con.execute(statement)
            for statement in schema.verdict_upgrade(self._verdict_columns(con)):
                con.execute(statement)
            if not counts.ready(con):  # an older schema, or verdicts written around the Store
                counts.rebuild(con)
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                [str(schema.SCHEMA_VERSION)],
            )
            # Informative: rows of every earlier codec stay readable (rawcodec).
            con.execute("INSERT OR REPLACE INTO meta VALUES ('raw_codec', ?)", [rawcodec.CODEC])

    def _check_tables(self) -> None:
        found = self._tables()
        # raw_blocks came with schema 2: a schema-1 store is read as it is (rawtexts); state
        # is made on the first writable open, and reads treat its absence as empty.
        # network_names and annotations came with schema 4 and read as empty before.
        # verdict_days and verdict_totals came with schema 5: without them the verdicts are read.
        optional = {"raw_blocks", "state", *schema.TABLES_ADDED_V4, *schema.TABLES_ADDED_V5}
        missing = set(schema.table_columns()) - found - optional
        if missing:
            raise StoreError(f"{self.path} is not a blockwatch store (missing {sorted(missing)})")
        self._check_version(found)
        self.verdict_select = schema.verdict_select(self._verdict_columns(self._con))

    @staticmethod
    def _verdict_columns(con: Any) -> set[str]:
        sql = (
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'verdicts'"
            " AND schema_name = 'main'"
        )
        return {r[0] for r in con.execute(sql).fetchall()}

    def _check_version(self, tables: set[str]) -> None:
        if "meta" not in tables:  # a new store
            return
        found = self._fetch("SELECT value FROM meta WHERE key = 'schema_version'", [])
        if found and found[0][0].isdigit() and int(found[0][0]) > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer blockwatch (schema {found[0][0]}; this one"
                f" knows up to {schema.SCHEMA_VERSION}): upgrade blockwatch to use it"
            )

    def close(self) -> None:
        self._con.close()

    def checkpoint(self) -> None:
        """Write the write-ahead log into the store file now. Closing does the same but
        DuckDB drops its error there, so a writer that must know (ingest) calls this first.
        When it fails (a full disk) every committed transaction is still in the WAL, which
        DuckDB replays the next time the store is opened: the StoreError says so."""
        try:
            self._con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            wal = self.path.with_name(self.path.name + ".wal")
            raise StoreError(
                f"{self.path}: the final checkpoint failed ({str(exc).splitlines()[0]}); the"
                f" data is intact in the write-ahead log {wal} and is replayed the next time"
                " the store is opened (free disk space first; do not delete that file)"
            ) from exc

    @contextmanager
    def loading_alone(self) -> Iterator[None]:
        """Meanwhile DuckDB runs this store's statements on one thread: for a loader that
        shares the machine with the processes preparing its rows (a Dask ingest's workers),
        whose cores DuckDB's other threads would only take. Loading the bench's Parquet parts
        costs about a fifth less CPU so (28 against 35 us a measurement at 100,000). The WAL
        is checkpointed less often meanwhile (BULK_CHECKPOINT_THRESHOLD)."""
        before = self._fetch("SELECT current_setting('threads')", [])[0][0]
        self.use_threads(1)
        self._con.execute(f"SET checkpoint_threshold = '{BULK_CHECKPOINT_THRESHOLD}'")
        try:
            yield
        finally:
            self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            self.use_threads(int(before))

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def counts_ready(self) -> bool:
        """Whether verdict_days and verdict_totals hold the verdicts' counts (store/counts.py):
        always after a writable open; a read-only open of an older store, or of one written
        around the Store, reads the verdicts instead."""
        return self._counts_ready

    @property
    def days_pay(self) -> bool:
        """Whether reads over a time range take the daily counts (counts.days_pay, as of the
        open) rather than the verdicts: a choice of speed, the figures are the same."""
        return self._days_pay

    @property
    def raw_columns(self) -> str:
        """What to select from measurements for rawtexts.texts (schema 1 or 2 columns)."""
        return self._raw_columns

    def use_threads(self, n: int) -> None:
        """Run each query on at most ``n`` of DuckDB's threads (``SET threads``: the whole
        connection's): for a process that shares the cores with others doing the same work
        (loading_alone; page workers reading a store file)."""
        try:
            self._con.execute(f"SET threads = {max(1, int(n))}")
        except duckdb.Error as exc:
            raise StoreError(f"cannot set DuckDB's threads to {n}: {exc}") from exc

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on this store's connection, for one thread's work (DuckDB cannot open the
        same file twice in one process with different modes, so readers share it)."""
        cur = self._con.cursor()
        if self.external:
            external.enter(cur)
        return cur

    def use_external(self) -> None:
        """Read through the external views from now on (ingest --external made them)."""
        self.external = True
        external.enter(self._con)

    class _Tx:
        def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
            self.con = con
            self.path = path

        def __enter__(self) -> duckdb.DuckDBPyConnection:
            self.con.execute("BEGIN TRANSACTION")
            return self.con

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            if exc_type is None:
                try:
                    self.con.execute("COMMIT")
                except duckdb.Error as err:
                    raise StoreError(f"{self.path}: commit failed: {err}") from err
                return
            self.con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                raise StoreError(f"{self.path}: {exc}") from exc

    def transaction(self, con: duckdb.DuckDBPyConnection | None = None) -> Store._Tx:
        """One transaction (on ``con``, a cursor of this store, else the store's own
        connection): committed on success, rolled back on any exception."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        return Store._Tx(con if con is not None else self._con, self.path)

    # --- writes -----------------------------------------------------------------------------

    def write_batch(
        self,
        measurement_rows: Sequence[tuple[Any, ...]] | pa.Table,
        verdict_rows: Sequence[tuple[Any, ...]] | pa.Table,
        file_progress: Sequence[tuple[str, int, int, int, bool]] = (),
        blocks: Sequence[bytes] | pa.Array = (),
        conflicts: list[tuple[str, str]] | None = None,
        network_names: Mapping[str, str] | None = None,
    ) -> int:
        """Insert measurements (rows of ``INGEST_MEASUREMENT_COLUMNS``), their verdicts and
        the raw blocks holding their texts, and record file progress, in one transaction;
        measurements already present are skipped. Returns measurements added. Times may be
        aware (stored as UTC) or naive UTC. ``network_names``: AS -> the name the batch's
        measurements gave it (OONI's probe_network_name). A row's ``raw_block`` numbers its block in
        ``blocks`` from 0: the blocks get their ids here, inside the transaction, so no other
        writer of the file can have taken them. ``blocks`` may be an Arrow binary array
        already (the pipeline's, over its own buffer): it is then inserted without a copy, and
        so may the rows be (Arrow tables of those columns: pipeline.bulk's Parquet parts).

        The batch is first written with plain INSERTs, which cost about half of INSERT OR
        IGNORE (bench: 29 against 45 us a measurement, commit included); if a key is present
        already (a rerun, a file read again) DuckDB refuses the statement, the transaction is
        rolled back whole, and the batch is written again with INSERT OR IGNORE. On that path,
        each measurement whose id is stored with a different document is a conflict: its
        ``(measurement_id, source)`` is appended to ``conflicts`` (the stored one stays)."""
        if self.external:
            raise StoreError(
                f"{self.path} keeps its measurements in Parquet folders (ingest --external):"
                " ingest into it with --external too"
            )
        tables = (
            _rows_table(rows.MEASUREMENT_ROWS, measurement_rows),
            _rows_table(rows.VERDICT_ROWS, verdict_rows),
            _block_array(blocks),
        )
        names = network_names or {}
        try:
            return self._write_batch(tables, file_progress, names, ignore=False)
        except _Conflict:
            return self._write_batch(tables, file_progress, names, ignore=True, conflicts=conflicts)

    def _write_batch(
        self,
        tables: tuple[pa.Table | None, pa.Table | None, pa.Array | None],
        file_progress: Sequence[tuple[str, int, int, int, bool]],
        names: Mapping[str, str],
        ignore: bool,
        conflicts: list[tuple[str, str]] | None = None,
    ) -> int:
        measurements, verdicts, block_data = tables
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.transaction() as con:
            added = 0
            first = 0
            if block_data is not None:
                # fetchall: DuckDB refuses other work while a result is unfinished.
                first = int(con.execute(_NEXT_BLOCK).fetchall()[0][0])
                ids = pa.array(range(first, first + len(block_data)), pa.int64())
                blocks = pa.Table.from_arrays([ids, block_data], names=rows.BLOCK_ROWS.names)
                if measurements is not None:
                    at = measurements.schema.get_field_index("raw_block")
                    numbered = pc.add(measurements.column(at), first)
                    measurements = measurements.set_column(at, "raw_block", numbered)
            if ignore and conflicts is not None and measurements is not None:
                # Before the insert: the stored rows are the ones the batch met.
                conflicts += stored_conflicts(
                    self._fetch, self._raw_columns, measurements, block_data, first
                )
            try:
                if block_data is not None:
                    rows.BLOCK_ROWS.insert(con, blocks, False)  # ids past the largest: free
                if measurements is not None:
                    added = rows.MEASUREMENT_ROWS.insert(con, measurements, ignore)
                if verdicts is not None:
                    rows.VERDICT_ROWS.insert(con, verdicts, ignore)
            except duckdb.ConstraintException as exc:
                if ignore:
                    raise
                raise _Conflict() from exc
            if verdicts is not None:
                self._count(con, verdicts, ignore)
            if ignore and block_data is not None:
                # The texts of measurements stored before stay where they were; a block none
                # of whose measurements went in is dropped (a partly used one is kept whole).
                last = first + len(block_data) - 1
                con.execute(
                    "DELETE FROM raw_blocks WHERE block_id BETWEEN ? AND ?"
                    " AND block_id NOT IN (SELECT raw_block FROM measurements"
                    " WHERE raw_block BETWEEN ? AND ?)",
                    [first, last, first, last],
                )
            if file_progress:
                # One statement for the batch's files: a statement per file made 20,000
                # one-record files take 30 times as long as the same records in one file.
                marks = rows.FILE_ROWS.arrow([(*p, now) for p in file_progress])
                rows.FILE_ROWS.insert(con, marks, ignore=False, replace=True)
            if names:
                context.write_network_names(con, names, "measurements")
        return added

    def _count(self, con: duckdb.DuckDBPyConnection, verdicts: pa.Table, ignore: bool) -> None:
        """Count a batch's inserted ``verdicts`` into verdict_days and verdict_totals."""
        con.register(_COUNTED_VIEW, verdicts)
        if ignore:
            # Some were skipped as present already: their groups are counted again
            # from the verdicts (a skipped one leaves its group as it was).
            counts.refresh(
                con,
                f"SELECT measured_at, probe_cc, probe_asn, domain FROM {_COUNTED_VIEW}",
            )
        else:  # every verdict of the batch went in, none replaced one
            for table, n in counts.add(con, f"SELECT * FROM {_COUNTED_VIEW}").items():
                self._counts_rows[table] += n
            # A table is folded when its rows have doubled since it last was, so
            # folding costs a constant share of the rows written. (Folding both at
            # the totals' doubling rewrote the days 40 times in a 1M bulk load: 15 %
            # of the loader.)
            grown = tuple(
                t for t, n in self._counts_rows.items() if n > 2 * self._counts_compacted[t] + 1000
            )
            if grown:
                folded = counts.compact(con, grown)
                self._counts_rows.update(folded)
                self._counts_compacted.update(folded)
        con.unregister(_COUNTED_VIEW)

    def add_verdicts(self, verdicts: Iterable[Verdict]) -> int:
        """Insert (or replace) verdicts, adding a minimal measurement row for each one that has
        none: synthetic data for tests and benchmarks. Returns the number of verdicts written."""
        records = [schema.record_to_row(v) for v in verdicts]
        if not records:
            return 0
        ids = [r[0] for r in records]
        # A measurement row without raw JSON: raw_measurement() then returns None.
        minimal = [
            (v[0], None, v[6], v[4], v[5], v[2], v[3], v[1], "add_verdicts", None, None, None, None)
            for v in records
        ]
        width = len(schema.MEASUREMENT_COLUMNS)
        new_ids = "SELECT unnest(?::VARCHAR[])"
        with self.transaction() as con:
            counts.before_change(con, new_ids, [ids])
            con.execute(f"DELETE FROM verdicts WHERE measurement_id IN ({new_ids})", [ids])
            con.execute(rows.INSERT_VERDICTS, rows.columns_of(records, len(schema.VERDICT_FIELDS)))
            con.execute(rows.INSERT_MEASUREMENTS, rows.columns_of(minimal, width, rows.RAW_COLUMNS))
            counts.refresh(
                con,
                "SELECT measured_at, probe_cc, probe_asn, domain FROM verdicts"
                f" WHERE measurement_id IN ({new_ids})",
                [ids],
            )
        return len(records)

    def replace_events(self, events: Iterable[Event], scope: Filter | None = None) -> int:
        """Replace the events matching ``scope`` (all events when None) with ``events``, in
        one transaction so readers never see a half-written set. Returns events written."""
        records = [schema.record_to_row(e) for e in events]
        where, params = event_where(scope or Filter())
        with self.transaction() as con:
            con.execute("DELETE FROM events" + where, params)
            if records:
                con.execute(rows.INSERT_EVENTS, rows.columns_of(records, len(schema.EVENT_FIELDS)))
        return len(records)

    def set_network_names(self, names: Mapping[str, str], source: str = "manual") -> int:
        """Name networks (AS -> name), replacing earlier names, in one transaction."""
        with self.transaction() as con:
            context.write_network_names(con, names, source)
        return len(names)

    def add_annotations(self, annotations: Iterable[Annotation]) -> int:
        """Insert annotations (one with the id of a stored one replaces it), in one
        transaction. Returns the number written."""
        with self.transaction() as con:
            return context.write_annotations(con, annotations)

    # --- reads ------------------------------------------------------------------------------

    def network_names(self) -> dict[str, str]:
        """AS number -> the name people use for it (empty in a store before schema 4)."""
        cur = self.cursor()
        try:
            return context.network_names(cur)
        finally:
            cur.close()

    def annotations(
        self, country: str | None = None, domains: Iterable[str] = ()
    ) -> list[Annotation]:
        """Annotations by date, of ``country`` and any of ``domains`` when given (see
        store.context.read_annotations)."""
        cur = self.cursor()
        try:
            return context.read_annotations(cur, country, domains)
        finally:
            cur.close()

    def verdicts(self, filter: Filter | None = None) -> list[Verdict]:
        """Verdicts matching the filter, oldest first."""
        return list(self.iter_verdicts(filter))

    def iter_verdicts(self, filter: Filter | None = None, chunk: int = 10_000) -> Iterator[Verdict]:
        """Verdicts matching the filter, oldest first, fetched in chunks (for big exports)."""
        f = filter or Filter()
        where, params = verdict_where(f)
        sql = f"SELECT {self.verdict_select} FROM verdicts{where}"
        sql += _ORDER_VERDICTS
        if f.limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, int(f.limit)))
        cur = self.cursor()
        try:
            cur.execute(sql, params)
            while rows := cur.fetchmany(chunk):
                yield from (schema.row_to_verdict(r) for r in rows)
        finally:
            cur.close()

    def events(self, filter: Filter | None = None) -> list[Event]:
        """Events matching the filter, by start time."""
        where, params = event_where(filter or Filter())
        sql = f"SELECT {schema.column_list(schema.EVENT_FIELDS)} FROM events{where}"
        rows = self._con.execute(sql + _ORDER_EVENTS, params).fetchall()
        return [schema.row_to_event(r) for r in rows]

    def raw_measurement(self, measurement_id: str) -> dict[str, Any] | None:
        """The measurement as it was ingested, or None (unknown id, or synthetic row)."""
        text = self.raw_texts([measurement_id]).get(measurement_id)
        return None if text is None else rawcodec.decode_text(text)

    def raw_texts(self, measurement_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored JSON texts of these measurements (byte for byte), for those that have
        one."""
        ids = sorted(set(measurement_ids))
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found += self._fetch(
                f"SELECT measurement_id, {self._raw_columns} FROM measurements"
                f" WHERE measurement_id IN ({marks})",
                chunk,
            )
        return rawtexts.texts(self._fetch, found)

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cur = self.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    def count(self, table: str) -> int:
        """Rows in one of the store's tables."""
        if table not in schema.table_columns():
            raise StoreError(f"no table {table!r}")
        row = self._con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def file_progress(self) -> dict[str, tuple[int, int, int, bool]]:
        """path -> (size, mtime_ns, lines_done, complete) for every file ingest has seen."""
        rows = self._con.execute(
            "SELECT path, size, mtime_ns, lines_done, complete FROM ingest_files"
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
