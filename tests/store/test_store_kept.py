"""Query results kept per store state (store/kept.py): the same rows as a fresh query, never
older than the store, within their memory cap."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from blockwatch.store import Filter, Reads, Store
from blockwatch.store.kept import KeptByState, KeptResults, store_state
from storehelpers import verdict


@pytest.fixture
def kept_reads(store: Store) -> Reads:
    store.add_verdicts([verdict(i) for i in range(6)])
    reads = Reads(store)
    reads.keep_results()
    return reads


def test_a_kept_read_answers_as_a_fresh_one_without_running_the_query(
    kept_reads: Reads, store: Store
) -> None:
    fresh = Reads(store)
    f = Filter(country="PK")
    first = kept_reads.country_networks(f)
    kept = kept_reads._kept
    assert kept is not None
    misses = kept.misses
    assert kept_reads.country_networks(f) == first == fresh.country_networks(f)
    assert kept.misses == misses and kept.hits >= 1
    # Annotations and names go through a cursor (store/context.py): kept the same way.
    kept_reads.annotations("PK", ["x.com"])
    hits = kept.hits
    kept_reads.annotations("PK", ["x.com"])
    assert kept.hits == hits + 1


def test_changing_a_returned_row_does_not_change_what_is_kept(kept_reads: Reads) -> None:
    rows = kept_reads.countries(Filter())
    rows[0]["n"] = -1
    rows.clear()
    assert kept_reads.countries(Filter())[0]["n"] == 6


def test_a_write_to_the_store_is_seen_by_the_next_read(kept_reads: Reads, store: Store) -> None:
    f = Filter(country="PK")
    assert kept_reads.country_networks(f)[0]["n"] == 6
    store.add_verdicts([verdict(100 + i, outcome="ok") for i in range(3)])
    assert kept_reads.country_networks(f)[0]["n"] == 9
    assert kept_reads.countries(Filter())[0]["blocked"] == 6


def test_rows_read_while_the_store_changed_are_not_kept(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        kept = KeptByState[str](store.path, 1 << 20)
        state, found = kept.lookup("k")
        assert found is None and state == store_state(store.path)
        store.add_verdicts([verdict(1)])  # a commit between the lookup and the keep
        kept.lookup("other")  # a reader has seen the new state
        kept.keep("k", "old rows", 10, state)
        assert kept.lookup("k")[1] is None
        state, _ = kept.lookup("k")
        kept.keep("k", "new rows", 10, state)
        assert kept.lookup("k")[1] == "new rows"


def test_kept_rows_stay_within_their_cap_oldest_out_first(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        kept = KeptByState[str](store.path, 800)
        for i in range(10):
            state, _ = kept.lookup(i)
            kept.keep(i, f"value {i}", 100, state)
        assert kept.size <= 800
        assert kept.lookup(0)[1] is None and kept.lookup(9)[1] == "value 9"
        state, _ = kept.lookup("big")
        kept.keep("big", "x", 101, state)  # over an eighth of the cap: not kept
        assert kept.lookup("big")[1] is None


def test_a_query_with_a_parameter_that_cannot_be_a_key_still_answers(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        kept = KeptResults(store.path)
        runs: list[int] = []

        def run() -> tuple[tuple[str, ...], list[tuple[int]]]:
            runs.append(1)
            return ("x",), [(1,)]

        for _ in range(2):
            assert kept.rows("SELECT ?", [{"a": 1}], run) == (("x",), [(1,)])
        assert len(runs) == 2  # a dict cannot be hashed: asked each time, never kept
        kept.rows("SELECT ?", [1], run)
        kept.rows("SELECT ?", [True], run)  # equal to 1 in Python, not in SQL
        assert len(runs) == 4


def test_readers_in_many_threads_get_the_same_rows(kept_reads: Reads, store: Store) -> None:
    expected = Reads(store).timeline(Filter(country="PK"), timedelta(days=1))
    seen: list[object] = []

    def read() -> None:
        for _ in range(20):
            seen.append(kept_reads.timeline(Filter(country="PK"), timedelta(days=1)))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 80 and all(rows == expected for rows in seen)


def test_a_cap_on_the_number_of_values_drops_the_least_recently_used(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        kept = KeptByState[str](store.path, 1 << 20, max_items=2, max_value_bytes=1 << 20)
        for key in ("a", "b"):
            kept.keep(key, key, 300_000, kept.state())  # over an eighth, under its own cap
        kept.lookup("a")  # "a" used last: "b" goes first
        kept.keep("c", "c", 10, kept.state())
        assert [kept.lookup(k)[1] for k in ("a", "b", "c")] == ["a", None, "c"]
