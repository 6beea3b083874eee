"""The verdict counts (verdict_days, verdict_totals) stay equal to a recount of the verdicts
through every write, and the dashboard's reads give the same figures from them as from the
verdicts themselves."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from blockwatch.collector.committer import Committer
from blockwatch.pipeline import ingest_paths, reanalyze
from blockwatch.store import Filter, Reads, Store, counts
from storehelpers import distinct_copies, write_jsonl

GROUP = "probe_cc, probe_asn, domain, outcome, method"
RECOUNT_DAYS = (
    f"SELECT CAST(measured_at AS DATE), {GROUP}, count(*), min(measured_at), max(measured_at)"
    " FROM verdicts GROUP BY ALL ORDER BY ALL"
)
RECOUNT_TOTALS = (
    f"SELECT {GROUP}, count(*), min(measured_at), max(measured_at)"
    " FROM verdicts GROUP BY ALL ORDER BY ALL"
)


def assert_counts_match(store: Store) -> None:
    con = store.cursor()
    # A group may be kept as several rows (a batch's own, until compacted): summed, as read.
    sums = "sum(n)::BIGINT, min(first), max(last)"
    days = con.execute(
        f"SELECT day, {GROUP}, {sums} FROM verdict_days GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    totals = con.execute(
        f"SELECT {GROUP}, {sums} FROM verdict_totals GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert days == con.execute(RECOUNT_DAYS).fetchall()
    assert totals == con.execute(RECOUNT_TOTALS).fetchall()
    assert days, "the counts hold something"


def _commit(store: Store, docs: list[dict[str, Any]]) -> None:
    """Documents through the collector's group commit, as `blockwatch serve` stores them."""

    async def run() -> None:
        committer = Committer(store, events_every=3600)
        await committer.start()
        await asyncio.gather(*(committer.submit(d) for d in docs))
        await committer.stop()

    asyncio.run(run())


def test_counts_equal_a_recount_after_ingest_duplicates_reanalysis_and_a_collector_commit(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 90, tag="counts"))
    first = write_jsonl(tmp_path / "a.jsonl", docs[:60])
    ingest_paths(store, [first])
    assert_counts_match(store)

    # New measurements of the same networks and days: added to the groups already counted.
    same_groups = write_jsonl(tmp_path / "c.jsonl", distinct_copies(qa_documents, 40, tag="more"))
    assert ingest_paths(store, [same_groups]).added == 40
    assert_counts_match(store)

    # Read again under another name: 60 duplicates (kept once), 30 new ones beside them.
    again = write_jsonl(tmp_path / "b.jsonl", docs[:90])
    report = ingest_paths(store, [again])
    assert (report.added, report.duplicates) == (30, 60)
    assert_counts_match(store)

    # Verdicts as older rules made them (blocked said ok, one missing): reanalysis puts the
    # verdicts back and the counts with them.
    con = store.cursor()
    blocked = [
        r[0]
        for r in con.execute(
            "SELECT measurement_id FROM verdicts WHERE outcome = 'blocked' ORDER BY 1 LIMIT 4"
        ).fetchall()
    ]
    assert len(blocked) == 4, "the QA data holds blocked measurements"
    con.execute(
        "UPDATE verdicts SET outcome = 'ok', method = NULL WHERE measurement_id IN (?, ?)",
        blocked[:2],
    )
    con.execute("DELETE FROM verdicts WHERE measurement_id = ?", [blocked[2]])
    assert reanalyze(store).changed == 3
    assert_counts_match(store)

    # The collector's commits: new measurements and one already stored.
    _commit(store, [*distinct_copies(qa_documents, 5, tag="live"), docs[0]])
    assert_counts_match(store)

    # Folded to one row per group, the counts stay the same.
    counts.compact(store.cursor())
    assert_counts_match(store)
    groups = store.cursor().execute(f"SELECT count(DISTINCT ({GROUP})) FROM verdicts")
    assert counts.rows(store.cursor())[counts.TOTALS] == groups.fetchall()[0][0]

    # A verdict replaced by one of another country and day moves between groups.
    old = store.verdicts(Filter(limit=1))[0]
    store.add_verdicts(
        [replace(old, probe_cc="ZZ", measured_at=old.measured_at + timedelta(days=3))]
    )
    assert_counts_match(store)


def _schema_4(path: Path) -> None:
    """A store as schema 4 left it: verdicts, no counts."""
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE verdict_days")
    con.execute("DROP TABLE verdict_totals")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    con.close()


def test_an_older_store_reads_its_verdicts_read_only_and_gets_its_counts_on_a_writable_open(
    db: Path, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    with Store(db) as s:
        ingest_paths(s, [write_jsonl(tmp_path / "a.jsonl", distinct_copies(qa_documents, 40))])
        figures = Reads(s).countries(Filter())
    _schema_4(db)
    with Store(db, read_only=True) as s:
        assert not s.counts_ready
        assert Reads(s).countries(Filter()) == figures
    with Store(db) as s:
        assert s.counts_ready
        assert_counts_match(s)
    # Verdicts written around the Store (plain SQL): a read-only open does not trust the
    # counts, the next writable open counts again.
    con = duckdb.connect(str(db))
    con.execute(
        "DELETE FROM verdicts WHERE measurement_id IN (SELECT measurement_id FROM verdicts LIMIT 3)"
    )
    con.close()
    with Store(db, read_only=True) as s:
        assert not s.counts_ready
    with Store(db) as s:
        assert_counts_match(s)


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory, qa_documents: list[dict[str, Any]]) -> Store:
    tmp = tmp_path_factory.mktemp("counted")
    with Store(tmp / "s.duckdb") as s:
        ingest_paths(s, [write_jsonl(tmp / "a.jsonl", distinct_copies(qa_documents, 150))])
    return Store(tmp / "s.duckdb", read_only=True)


def _both(store: Store, read: Any) -> tuple[Any, Any]:
    """What ``read(Reads)`` gives from the counts and from the verdicts."""
    assert store.counts_ready
    store._days_pay = True  # the daily counts for time ranges too, whatever they save
    from_counts = read(Reads(store))
    store._counts_ready = False
    try:
        return from_counts, read(Reads(store))
    finally:
        store._counts_ready = True


def _ranges(store: Store) -> list[Filter]:
    lo, hi = (
        store.cursor().execute("SELECT min(measured_at), max(measured_at) FROM verdicts").fetchone()
    )
    mid = lo + (hi - lo) / 2
    return [
        Filter(),
        Filter(since=mid),  # a partial day, then whole ones
        Filter(until=mid),
        Filter(since=lo + timedelta(hours=5), until=hi - timedelta(hours=7)),
        Filter(since=mid, until=mid + timedelta(hours=2)),  # inside one day
        Filter(since=mid.replace(hour=0, minute=0, second=0, microsecond=0)),  # a midnight
    ]


def test_every_table_of_the_dashboard_reads_the_same_from_the_counts_as_from_the_verdicts(
    counted: Store,
) -> None:
    r = Reads(counted)
    cc = r.countries(Filter())[0]["probe_cc"]
    asn = r.country_networks(Filter(country=cc))[0]["probe_asn"]
    dom = r.country_domains(Filter(country=cc))[0]["domain"]
    for f in _ranges(counted):
        for read in (
            lambda r, f=f: r.countries(f),
            lambda r, f=f: r.country_networks(f.replace(country=cc)),
            lambda r, f=f: r.country_domains(f.replace(country=cc)),
            lambda r, f=f: r.network_domains(f.replace(asn=asn)),
            lambda r, f=f: r.span(f.replace(country=cc, domain=dom)),
            lambda r, f=f: r.timeline(f.replace(country=cc, domain=dom), timedelta(days=1)),
            lambda r, f=f: r.timeline(f.replace(asn=asn), timedelta(days=7), False),
        ):
            from_counts, from_verdicts = _both(counted, read)
            assert from_counts == from_verdicts, f
