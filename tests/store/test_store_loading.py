"""Store.loading_alone: DuckDB on one thread while a bulk load runs, as before afterwards."""

from __future__ import annotations

import pytest

from blockwatch.store import Store


def _threads(store: Store) -> int:
    cur = store.cursor()
    try:
        row = cur.execute("SELECT current_setting('threads')").fetchone()
    finally:
        cur.close()
    assert row is not None
    return int(row[0])


def test_loading_alone_runs_duckdb_on_one_thread_and_restores_it_even_on_error(
    store: Store,
) -> None:
    store.cursor().execute("SET threads = 3")
    with store.loading_alone():
        assert _threads(store) == 1
        store.write_batch([], [], [("a.jsonl", 1, 1, 1, True)])  # writes go on as usual
    assert _threads(store) == 3
    with pytest.raises(RuntimeError), store.loading_alone():
        raise RuntimeError("a failed load")
    assert _threads(store) == 3
    assert store.count("ingest_files") == 1
