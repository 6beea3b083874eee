"""`ingest --engine dask --external DIR`: rows kept as Parquet by day and country, read
through views; the same verdicts, events, texts and report digest as a plain ingest."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.errors import StoreError
from blockwatch.pipeline import ingest_paths
from blockwatch.scale.dask_engine import dask_client, ingest_dask
from blockwatch.store import Store
from blockwatch.store.reads import Reads
from blockwatch.web.report import data_sha256
from scalehelpers import store_contents
from storehelpers import Cli


def _digest(db: Path) -> str:
    """The evidence report's digest over every measurement of the store (texts included)."""
    with Store(db, read_only=True) as store:
        found = store.cursor().execute("SELECT measurement_id FROM measurements").fetchall()
        ids = [r[0] for r in found]
        return data_sha256(Reads(store), sorted(ids))


@pytest.mark.slow
def test_an_external_store_reads_as_a_plain_one_and_a_second_ingest_adds_nothing(
    input_dir: Path, tmp_path: Path
) -> None:
    plain, kept, folder = tmp_path / "plain.duckdb", tmp_path / "ext.duckdb", tmp_path / "pq"
    with Store(plain) as store:
        one = ingest_paths(store, [input_dir], batch_size=64)
    with dask_client(None, 1) as client:
        address = client.scheduler.address  # one cluster for the three ingests
        with Store(kept) as store:
            many = ingest_dask(
                store, [input_dir], scheduler=address, external=folder, batch_size=300
            )
        # Same counts, but that an id met again with another text is a duplicate here (the
        # first one is kept either way; telling them apart would mean reading external texts).
        assert (many.read, many.added, many.malformed) == (one.read, one.added, one.malformed)
        assert many.duplicates == one.duplicates + one.conflicts
        # Partitioned by day and country; the store holds the dedup index, not the rows.
        assert list(folder.glob("verdicts/day=2024-02-*/cc=PK/*.parquet"))
        assert list(folder.glob("measurements/day=*/cc=*/*.parquet"))
        with Store(kept, read_only=True) as store:
            own = store.cursor().execute("SELECT count(*) FROM main.measurements").fetchall()
            assert own == [(0,)]
        cli = Cli()
        for db in (plain, kept):
            assert cli("events", "--db", db, "--format", "jsonl").exit_code == 0
        a, b = store_contents(plain), store_contents(kept)
        assert a["verdicts"] and a["events"] and a["texts"]
        assert a == b
        assert _digest(plain) == _digest(kept)
        # Again, as a plain rerun (every file done), and with the files' bookkeeping
        # forgotten: the external dedup index leaves every measurement out.
        with Store(kept) as store:
            again = ingest_dask(store, [input_dir], scheduler=address, external=folder)
            assert (again.files_skipped, again.added) == (6, 0)
            store.cursor().execute("DELETE FROM ingest_files")
            forgot = ingest_dask(store, [input_dir], scheduler=address, external=folder)
            assert (forgot.read, forgot.added) == (one.read, 0)
            assert forgot.duplicates == one.read - one.malformed
    assert store_contents(kept) == b
    # A plain ingest would bypass the external dedup index: refused, naming the way in.
    with Store(kept) as store, pytest.raises(StoreError, match="--external"):
        store.cursor().execute("DELETE FROM ingest_files")
        ingest_paths(store, [input_dir])
