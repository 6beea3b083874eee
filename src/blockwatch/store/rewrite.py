"""Rewriting stored verdicts all at once: the store's side of re-analysis.

The measurements a filter selects are listed in a temporary table, in the order their texts
are stored (so each raw block is decompressed about once), and handed out a page at a time
with their raw texts and current verdicts. New verdict rows wait in a second temporary table
(DuckDB spills it to disk) until :meth:`VerdictRewrite.commit` swaps them in with one
transaction: readers see the old set or the new one, and an interrupted rewrite changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from blockwatch.errors import StoreError
from blockwatch.store import counts, rawtexts, schema
from blockwatch.store.filters import Filter, verdict_where
from blockwatch.store.rows import verdict_arrow_insert
from blockwatch.store.store import Store

__all__ = ["StoredMeasurement", "VerdictRewrite"]

_TODO: Final = "_bw_reanalyze_todo"
_NEW: Final = "_bw_reanalyze_new"
_VERDICT_AT: Final = 6  # where a todo row's verdict columns start (after id, source, raw x4)


@dataclass(frozen=True, slots=True)
class StoredMeasurement:
    """One stored measurement as a rewrite sees it."""

    measurement_id: str
    source: str | None  # "file:line" it was read from
    text: bytes | None  # its raw JSON; None: none stored (rows made by add_verdicts)
    unreadable: str | None  # why its text cannot be read (a damaged block), else None
    verdict: tuple[Any, ...] | None  # its verdict row (schema.VERDICT_FIELDS), None: none


def _todo_sql(where: str) -> str:
    # Measurement columns carry the names the verdict filter uses (probe_cc, probe_asn,
    # domain, measured_at), so the filter selects measurements, with a verdict or without.
    verdict_cols = ", ".join(f'v."{c}"' for c in schema.VERDICT_FIELDS)
    return (
        f"CREATE TEMP TABLE {_TODO} AS SELECT row_number() OVER (ORDER BY m.raw_block NULLS"
        " FIRST, m.raw_offset, m.measurement_id) AS n, m.measurement_id AS _id, m.source,"
        f" m.raw, m.raw_block, m.raw_offset, m.raw_length, {verdict_cols}"
        f" FROM (SELECT * FROM measurements{where}) m"
        " LEFT JOIN verdicts v ON v.measurement_id = m.measurement_id"
    )


class VerdictRewrite:
    """``with VerdictRewrite(store, flt) as rw: for page in rw.pages(): ...; rw.commit()``."""

    def __init__(self, store: Store, flt: Filter | None = None) -> None:
        if store.read_only:
            raise StoreError(f"{store.path} is open read-only: re-analysis writes verdicts")
        f = flt or Filter()
        if f.outcome is not None or f.method is not None or f.limit is not None:
            raise StoreError(
                "re-analysis selects measurements by country, network, domain and time"
            )
        self._store = store
        # One cursor throughout: temporary tables belong to the connection that made them.
        self._con = store.cursor()
        where, params = verdict_where(f)
        try:
            self._drop()
            self._con.execute(_todo_sql(where), params)
            self._con.execute(f"CREATE TEMP TABLE {_NEW} AS SELECT * FROM verdicts LIMIT 0")
            row = self._con.execute(f"SELECT count(*) FROM {_TODO}").fetchone()
        except BaseException:
            self.close()
            raise
        self.total = int(row[0]) if row else 0

    def _fetch(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        return self._con.execute(sql, args).fetchall()

    def pages(self, size: int) -> Iterator[list[StoredMeasurement]]:
        """The selected measurements, ``size`` at a time, in storage order."""
        for start in range(1, self.total + 1, size):
            rows = self._fetch(
                f"SELECT * EXCLUDE (n) FROM {_TODO} WHERE n BETWEEN ? AND ? ORDER BY n",
                [start, start + size - 1],
            )
            texts, unreadable = self._texts(rows)
            yield [
                StoredMeasurement(
                    measurement_id=r[0],
                    source=r[1],
                    text=texts.get(r[0]),
                    unreadable=unreadable.get(r[0]),
                    verdict=tuple(r[_VERDICT_AT:]) if r[_VERDICT_AT] is not None else None,
                )
                for r in rows
            ]

    def _texts(self, rows: list[tuple[Any, ...]]) -> tuple[dict[Any, bytes], dict[Any, str]]:
        """(texts by id, why by id for those that cannot be read). A damaged block costs its own
        measurements only: the page is read again one measurement at a time to find them."""
        keys = [(r[0], r[2], r[3], r[4], r[5]) for r in rows]
        try:
            return rawtexts.texts(self._fetch, keys), {}
        except StoreError:
            pass
        texts: dict[Any, bytes] = {}
        unreadable: dict[Any, str] = {}
        for key in keys:
            try:
                texts.update(rawtexts.texts(self._fetch, [key]))
            except StoreError as exc:
                unreadable[key[0]] = f"raw JSON unreadable: {exc}"
        return texts, unreadable

    def add(self, verdict_rows: Sequence[tuple[Any, ...]]) -> None:
        """New verdict rows (schema.record_to_row), swapped in by :meth:`commit`."""
        if verdict_rows:
            verdict_arrow_insert(self._con, _NEW, verdict_rows)

    def commit(self) -> None:
        """Replace the verdicts of every measurement given a new one, in one transaction."""
        changed = f"SELECT measurement_id FROM {_NEW}"
        with self._store.transaction(self._con) as tx:
            counts.before_change(tx, changed, [])  # a verdict may move to another group
            tx.execute(f"DELETE FROM verdicts WHERE measurement_id IN ({changed})")
            tx.execute(f"INSERT INTO verdicts SELECT * FROM {_NEW}")
            counts.refresh(tx, f"SELECT measured_at, probe_cc, probe_asn, domain FROM {_NEW}")

    def _drop(self) -> None:
        self._con.execute(f"DROP TABLE IF EXISTS {_TODO}")
        self._con.execute(f"DROP TABLE IF EXISTS {_NEW}")

    def close(self) -> None:
        try:
            self._drop()
        finally:
            self._con.close()

    def __enter__(self) -> VerdictRewrite:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
