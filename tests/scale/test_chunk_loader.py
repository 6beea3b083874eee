"""The Dask ingest's loader takes each chunk as soon as its worker has written it (its .ready
marker), in order, and never a chunk another run left in the parts folder."""

from __future__ import annotations

from pathlib import Path

from blockwatch.pipeline import IngestReport, ingest_paths
from blockwatch.pipeline.bulk import (
    READY,
    ChunkLoader,
    FileTask,
    chunk_stem,
    files_to_ingest,
    prepare_file_parts,
)
from blockwatch.store import Store
from scalehelpers import store_contents


def _task(store: Store, input_dir: Path) -> FileTask:
    tasks = files_to_ingest(store, [input_dir], IngestReport())
    return max(tasks, key=lambda t: t.size)  # the file with the most chunks


def test_chunks_load_in_order_as_their_markers_appear(input_dir: Path, tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    with Store(tmp_path / "bw.duckdb") as store:
        task = _task(store, input_dir)
        made = prepare_file_parts(task, str(parts), batch_size=16, run="r1")
        assert len(made.chunks) >= 3
        stem = chunk_stem(task, parts, run="r1")
        # As if the worker had finished only the first two chunks so far.
        hidden = [Path(f"{stem}-{i:05d}{READY}") for i in range(2, len(made.chunks))]
        for marker in hidden:
            marker.rename(marker.with_suffix(".later"))
        loader = ChunkLoader(store, task, parts, "r1")
        report = IngestReport()
        try:
            assert loader.poll() == 2 and loader.poll() == 0
            assert store.count("measurements") > 0
            (done,) = (
                store.cursor().execute("SELECT lines_done, complete FROM ingest_files").fetchall()
            )
            assert done == (made.chunks[1][1], False)  # the second chunk's progress, not final
            # The third chunk's marker lost (a shared volume's cache): the list the task
            # returned gives it; the others come by their markers.
            for marker in hidden[1:]:
                marker.with_suffix(".later").rename(marker)
            loader.finish(made)
        finally:
            loader.close(report)
        made.count_into(report)
        assert report.added + report.duplicates == made.read - made.malformed
        assert list(parts.iterdir()) == [Path(f"{stem}-00002.later")]  # the rest removed
        (done,) = store.cursor().execute("SELECT lines_done, complete FROM ingest_files").fetchall()
        assert done[1] is True

    with Store(tmp_path / "plain.duckdb") as plain:
        ingest_paths(plain, [Path(task.path)])
    assert store_contents(tmp_path / "bw.duckdb") == store_contents(tmp_path / "plain.duckdb")


def test_a_chunk_left_by_another_run_is_not_taken(input_dir: Path, tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    with Store(tmp_path / "bw.duckdb") as store:
        task = _task(store, input_dir)
        prepare_file_parts(task, str(parts), batch_size=16, run="old")  # a killed run's
        loader = ChunkLoader(store, task, parts, "new")
        try:
            assert loader.poll() == 0
        finally:
            loader.close(IngestReport())
        assert store.count("measurements") == 0
