"""`blockwatch ingest --engine dask` on a real LocalCluster: the same verdict rows, stored
measurements and events as the single-process ingest of the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.pipeline import ingest_paths
from blockwatch.scale.dask_engine import ingest_dask
from blockwatch.store import Store
from scalehelpers import store_contents
from storehelpers import Cli


class _Advances:
    """An IngestProgress that keeps what it was told."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.advances: list[int] = []

    def start(self, total: int) -> None:
        pass

    def next_file(self, name: str, size: int) -> None:
        self.files.append(name)

    def advance(self, nbytes: int) -> None:
        self.advances.append(nbytes)

    def finish(self) -> None:
        pass


@pytest.mark.slow
def test_dask_ingest_stores_the_same_verdicts_measurements_and_events_as_one_process(
    input_dir: Path, tmp_path: Path
) -> None:
    single, dask = tmp_path / "single.duckdb", tmp_path / "dask.duckdb"
    alone, spread = _Advances(), _Advances()
    with Store(single) as store:
        one = ingest_paths(store, [input_dir], batch_size=64, progress=alone)
    with Store(dask) as store:
        threads = store.cursor().execute("SELECT current_setting('threads')").fetchall()
        many = ingest_dask(store, [input_dir], workers=2, batch_size=64, progress=spread)
        # DuckDB ran on one thread for the load only (Store.loading_alone)
        assert store.cursor().execute("SELECT current_setting('threads')").fetchall() == threads
    assert (many.read, many.added, many.duplicates, many.malformed) == (
        one.read,
        one.added,
        one.duplicates,
        one.malformed,
    )
    assert many.malformed == 1 and many.duplicates >= 1
    # The workers wrote chunks of 64 measurements, each loaded (and shown) on its own; the
    # bar moved through the same bytes of JSON as the single-process one.
    assert len(spread.files) == 6 and len(spread.advances) >= many.read // 64 > 6
    assert sum(spread.advances) == sum(alone.advances)
    cli = Cli()
    for db in (single, dask):
        assert cli("events", "--db", db, "--format", "jsonl").exit_code == 0
    a, b = store_contents(single), store_contents(dask)
    assert a["verdicts"] and a["events"]
    assert a == b
    names = []
    for db in (single, dask):
        with Store(db, read_only=True) as store:
            names.append(store.network_names())
    assert names[0] and names[0] == names[1]  # the networks' names, whichever path ingested
    # A plain ingest afterwards finds every file done: the dask path kept the bookkeeping.
    with Store(dask) as store:
        again = ingest_paths(store, [input_dir])
    assert (again.files_skipped, again.added) == (6, 0)


@pytest.mark.slow
def test_the_ingest_command_runs_on_dask_and_a_second_run_adds_nothing(
    input_dir: Path, tmp_path: Path
) -> None:
    cli = Cli()
    db = tmp_path / "bw.duckdb"
    args = ("ingest", input_dir, "--db", db, "--engine", "dask", "--workers", "1", "--no-progress")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert "malformed: 1" in first.output
    second = cli(*args)
    assert "(6 unchanged, skipped)" in second.output and "added: 0" in second.output
    assert not list(tmp_path.glob(".bw-parts-*"))  # the parts are cleaned up


def test_a_bad_fingerprint_table_fails_before_any_cluster_starts(
    input_dir: Path, tmp_path: Path
) -> None:
    result = Cli()(
        "ingest", input_dir, "--db", tmp_path / "bw.duckdb", "--engine", "dask",
        "--fingerprints", tmp_path / "absent.csv", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 2 and "absent.csv" in result.output
    assert not list(tmp_path.glob(".bw-parts-*"))
