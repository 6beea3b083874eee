"""Reads through a store's owner (store.remote): the same answers as reading the store, and
nothing but the owner's own workers' SELECTs is answered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from multiprocessing import AuthenticationError
from pathlib import Path

import duckdb
import pytest

from blockwatch.errors import StoreError
from blockwatch.store import Filter, Reads, Store
from blockwatch.store.remote import THREAD_NICE, QueryService, RemoteStore
from blockwatch.web import report


@pytest.fixture
def owned(store_path: Path, tmp_path: Path) -> Store:
    """The web store opened read-write, as `blockwatch serve` holds it."""
    path = tmp_path / "owned.duckdb"
    shutil.copy(store_path, path)
    store = Store(path)
    yield store
    store.close()


def test_remote_reads_answer_as_the_store_does(owned: Store) -> None:
    service = QueryService(owned)
    remote = RemoteStore(service.address)
    try:
        here, there = Reads(owned), Reads(remote)  # type: ignore[arg-type]
        pk = Filter(country="PK")
        event_id = here.events(Filter(), top_level=True)[0]["event_id"]
        ev = here.event(event_id)
        assert ev is not None
        ids = here.event_basis_ids(ev, here.child_events(event_id))
        lo, hi = here.data_range()
        assert lo is not None and hi is not None
        for name, args in [
            ("data_range", ()),
            ("countries", (Filter(),)),
            ("countries", (Filter(since=lo + timedelta(hours=30)),)),  # not day aligned
            ("country_networks", (pk,)),
            ("country_domains", (pk,)),
            ("events", (pk,)),
            ("event", (event_id,)),
            ("child_events", (event_id,)),
            ("verdicts_by_ids", (ids,)),
            ("raw_measurements", (ids[:50],)),
            ("timeline", (pk.replace(domain="x.com"), timedelta(days=1))),
            ("network_names", ()),
            ("annotations", ("PK",)),
        ]:
            assert getattr(there, name)(*args) == getattr(here, name)(*args), name
        # A whole report, checksum and all, built from the owner's rows.
        local = report.build(here, event_id=event_id)
        far = report.build(there, event_id=event_id)
        assert far.sha256 == local.sha256 and far.measurement_ids == local.measurement_ids
        assert remote.counts_ready == owned.counts_ready
    finally:
        remote.close()
        service.close()


def test_only_one_select_is_answered_and_the_store_is_untouched(owned: Store) -> None:
    service = QueryService(owned)
    remote = RemoteStore(service.address)
    before = owned.count("verdicts")
    try:
        for sql in (
            "DELETE FROM verdicts",
            "DROP TABLE verdicts",
            "SELECT 1; DELETE FROM verdicts",
            "INSERT INTO network_names VALUES ('AS1', 'x', 'y')",
            "ATTACH ':memory:' AS other",
        ):
            with pytest.raises(duckdb.Error, match="only one SELECT"):
                remote.cursor().execute(sql)
        # A SELECT that writes all the same: refused by the read-only transaction it runs in.
        with pytest.raises(duckdb.Error, match="read-only"):
            remote.cursor().execute(
                "WITH gone AS (DELETE FROM verdicts RETURNING 1) SELECT count(*) FROM gone"
            )
        # A failing SELECT is the store's error, and the channel still answers after it.
        with pytest.raises(StoreError, match="query failed"):
            Reads(remote)._rows("SELECT nothing FROM verdicts")  # type: ignore[arg-type]
        with pytest.raises(duckdb.Error, match="complex"):
            remote.cursor().execute("SELECT ?", [complex(1, 2)])
        assert remote.cursor().execute("SELECT count(*) FROM verdicts").fetchone() == (before,)
    finally:
        remote.close()
        service.close()
    assert owned.count("verdicts") == before


def test_a_process_without_the_key_cannot_read(owned: Store) -> None:
    service = QueryService(owned)
    path, _ = service.address
    try:
        with pytest.raises((AuthenticationError, duckdb.Error)):
            RemoteStore((path, b"not the key"))
        # The service still serves its own workers afterwards.
        remote = RemoteStore(service.address)
        assert remote.cursor().execute("SELECT 42").fetchall() == [(42,)]
        remote.close()
    finally:
        service.close()
    assert not Path(path).exists()  # its private folder goes with it


def test_reads_fail_cleanly_once_the_owner_is_gone(owned: Store) -> None:
    service = QueryService(owned)
    remote = RemoteStore(service.address)
    service.close()
    with pytest.raises(StoreError, match="owner"):
        Reads(remote).countries(Filter())  # type: ignore[arg-type]
    remote.close()


def _thread_nices() -> list[int]:
    """The nice value of each thread of this process (Linux keeps one per thread)."""
    out = []
    for task in Path("/proc/self/task").iterdir():
        stat = (task / "stat").read_text()
        out.append(int(stat[stat.rindex(")") + 2 :].split()[16]))
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_a_niced_worker_is_served_at_its_priority(owned: Store) -> None:
    service = QueryService(owned)
    path, key = service.address
    client = (
        "import os, sys; from blockwatch.store.remote import RemoteStore;"
        f"os.nice(19); r = RemoteStore(({path!r}, {key!r}));"
        "print(r.cursor().execute('SELECT 1').fetchall()); sys.stdout.flush();"
        "sys.stdin.read()"  # connected until the test has looked
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", client], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "[(1,)]"
        assert THREAD_NICE in _thread_nices()  # the thread serving it (19 capped)
        assert os.nice(0) == 0  # and the server itself untouched
    finally:
        proc.communicate("", timeout=30)
        service.close()
