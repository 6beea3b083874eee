"""Query results kept per store state, so pages that read the same rows read them once.

The dashboard's page and API answer for one thing (a country, a network, an event) run the
same queries, and many pages share some (the store's time range, a country's events). At a
million verdicts a query costs about a millisecond even when it returns one row, so a
dashboard keeps the rows each query returned (:class:`KeptResults`) until the store changes.

Whether it changed: the store file's and its write-ahead log's size and modification time
(:func:`store_state`), read before every lookup. Every commit appends to the log, and a
checkpoint rewrites the file and empties the log, so any write changes one of the two. Rows
are kept under the state read *before* their query ran, and only while no newer state has
been seen: a kept result is never older than the state it is served under.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

from blockwatch.store.cursor import SqlCursor

__all__ = [
    "DEFAULT_MAX_BYTES",
    "KeptByState",
    "KeptCursor",
    "KeptResults",
    "Rows",
    "State",
    "query_rows",
    "store_state",
]

DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024
# What one result costs besides its values' own bytes (tuples, list slots, small objects):
# estimated, as measuring Python objects exactly would cost more than most queries.
_ROW_BYTES: Final = 64
_CELL_BYTES: Final = 40
_SAMPLE_ROWS: Final = 64

Rows = tuple[tuple[str, ...], list[tuple[Any, ...]]]  # (column names, rows)
V = TypeVar("V")
State = tuple[tuple[int, int], ...]


def store_state(db: Path) -> State:
    """What changes whenever the store does: its file's and its WAL's size and time."""
    out = []
    for path in (str(db), f"{db}.wal"):
        try:
            st = os.stat(path)
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((-1, -1))
    return tuple(out)


def query_rows(cursor: SqlCursor, sql: str, params: Sequence[Any]) -> Rows:
    """Run ``sql`` on ``cursor``: its column names and all its rows."""
    res = cursor.execute(sql, list(params))
    return tuple(d[0] for d in res.description or []), res.fetchall()


def _size(rows: list[tuple[Any, ...]]) -> int:
    """About how many bytes ``rows`` hold: measured on the first rows, scaled to the rest."""
    sample = rows[:_SAMPLE_ROWS]
    total = 0
    for row in sample:
        total += _ROW_BYTES + _CELL_BYTES * len(row)
        for value in row:
            if isinstance(value, str | bytes):
                total += len(value)
            elif isinstance(value, list):
                total += sum(len(v) if isinstance(v, str) else _CELL_BYTES for v in value)
    return total * len(rows) // max(1, len(sample))


class KeptByState(Generic[V]):
    """Values keyed by anything hashable, least recently used first out, up to ``max_bytes``
    and ``max_items`` (a value over ``max_value_bytes``, by default an eighth of
    ``max_bytes``, is not kept: one export-sized value would push out everything else); all
    of them dropped when the store at ``db`` changes. Thread-safe.

    ``lookup`` (or ``state``) gives the store's state; ``keep`` takes that state back, and
    keeps the value only if the store is still in it (else the value may be older)."""

    def __init__(
        self,
        db: Path,
        max_bytes: int,
        max_items: int | None = None,
        max_value_bytes: int | None = None,
    ) -> None:
        self.db = Path(db)
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.max_value_bytes = max_bytes // 8 if max_value_bytes is None else max_value_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._state = store_state(self.db)

    def state(self) -> State:
        """The store's state now, forgetting every value if it changed."""
        state = store_state(self.db)
        with self._lock:
            self._forget_unless(state)
        return state

    def _forget_unless(self, state: State) -> None:
        if state != self._state:
            self._state = state
            self._values.clear()
            self.size = 0

    def lookup(self, key: Hashable) -> tuple[State, V | None]:
        state = store_state(self.db)
        with self._lock:
            self._forget_unless(state)
            found = self._values.get(key)
            if found is None:
                self.misses += 1
                return state, None
            self._values.move_to_end(key)
            self.hits += 1
            return state, found[0]

    def keep(self, key: Hashable, value: V, size: int, state: State) -> None:
        if size > self.max_value_bytes:
            return
        now = store_state(self.db)
        with self._lock:
            self._forget_unless(now)
            if state != now:
                return  # the store changed while the value was made
            old = self._values.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._values[key] = (value, size)
            self.size += size
            while self.size > self.max_bytes or (
                self.max_items is not None and len(self._values) > self.max_items
            ):
                _, (_, dropped) = self._values.popitem(last=False)
                self.size -= dropped


class KeptResults(KeptByState[Rows]):
    """Rows of queries keyed by (SQL, parameters) (see the module's doc)."""

    def __init__(self, db: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(db, max_bytes)

    def rows(self, sql: str, params: Sequence[Any], run: Callable[[], Rows]) -> Rows:
        """The rows of ``sql`` with ``params``: kept ones, else ``run()``'s (then kept)."""
        key = _key(sql, params)
        if key is None:
            return run()
        state, found = self.lookup(key)
        if found is not None:
            return found
        result = run()
        self.keep(key, result, _size(result[1]), state)
        return result


def _key(sql: str, params: Sequence[Any]) -> Hashable | None:
    """A hashable key for a query (lists of ids become tuples), or None: not kept."""
    # Each value with its type: 1, 1.0 and True are equal keys to Python, not to SQL.
    values = [(type(p).__name__, tuple(p) if isinstance(p, list) else p) for p in params]
    key = (sql, *values)
    try:
        hash(key)
    except TypeError:
        return None
    return key


class KeptCursor:
    """A cursor whose queries go through :class:`KeptResults` (for the reads written against
    a cursor: store.context)."""

    def __init__(self, kept: KeptResults, cursor: SqlCursor) -> None:
        self._kept = kept
        self._cursor = cursor
        self._result: Rows = ((), [])
        self._at = 0

    def execute(self, query: str, parameters: object = None) -> KeptCursor:
        params = list(parameters) if isinstance(parameters, Sequence) else []
        run = functools.partial(query_rows, self._cursor, query, params)
        self._result, self._at = self._kept.rows(query, params, run), 0
        return self

    @property
    def description(self) -> Sequence[tuple[Any, ...]] | None:
        return [(name,) for name in self._result[0]]

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        rows = self._result[1][self._at : self._at + size]
        self._at += len(rows)
        return rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.fetchmany(len(self._result[1]))

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def close(self) -> None:
        """The cursor underneath is the reader's own, kept open."""
