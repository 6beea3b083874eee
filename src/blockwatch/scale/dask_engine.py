"""``blockwatch ingest --engine dask``: read + verdict on a Dask cluster, loaded by the store.

Each input file is one task: a worker runs the pipeline's ``prepare_file_parts`` on it (the
same parse and rules as a plain ingest) and writes Parquet parts; this process, the store's one
writer, loads each chunk as soon as its worker has written it (``ChunkLoader``), so loading
overlaps the workers' work and memory holds a few chunks, not the dataset. Files are loaded in
input order (the workers run ahead), so the store is the one ``ingest_paths`` would make.
Without a scheduler address a ``distributed.LocalCluster`` of ``workers`` processes (one
thread each) is started and stopped here. The parts folder must be reachable by the workers
and by this process: on one machine any folder; on a cluster a shared volume (docs/scale.md).
"""

from __future__ import annotations

import functools
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import dask
from distributed import Client, Future, LocalCluster

from blockwatch.errors import StoreError
from blockwatch.pipeline import IngestProgress, IngestReport, resolve_fingerprints
from blockwatch.pipeline.bulk import (
    ChunkLoader,
    FileParts,
    FileTask,
    files_to_ingest,
    finish_external,
    prepare_file_parts,
    register_file_parts,
    start_external,
)
from blockwatch.store import Store

__all__ = ["DEFAULT_WORKERS", "dask_client", "ingest_dask"]

DEFAULT_WORKERS: Final = 2
# Measurements per Parquet chunk, and so per load transaction: five times a plain ingest's
# batch, as each transaction's fixed cost (commit, block ids, parts opened) falls on the one
# loader every worker waits for. The parts' CHUNK_BYTES still bounds a worker's memory (and
# closes most chunks first: OONI's web_connectivity measurements average ~10 KiB of JSON).
DEFAULT_CHUNK: Final = 10_000
# How often the loader looks for a chunk a worker has finished, when it has none to load.
POLL_SECONDS: Final = 0.02
# How the LocalCluster started here differs from Dask's defaults, measured on two shared cores
# (bench/scale.py, docs/scale.md):
# - Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, so that freed memory goes back
#   to the system at once. Setting it also turns off glibc's adaptive mmap threshold: every
#   allocation past 128 KiB (a JSON document's parse, a chunk's buffers) then maps fresh pages
#   and unmaps them again, and read + verdict took ~195 instead of ~150 us of CPU a
#   measurement. Unset (None), a worker keeps glibc's defaults; its peak RSS stays a chunk's
#   worth (~200 MiB).
# - Diagnostics only the dashboard (off here) shows: the event loops' 20 ms tick, the 500 ms
#   system monitor, the workers' 10 ms stack sampling. They took 3 to 4% of a core in each
#   process, idle or not; the ingesting process (scheduler and nannies beside the loader)
#   paid about 5 us a measurement for them.
LOCAL_CLUSTER_CONFIG: Final = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.profile.enabled": False,
}


@contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster of ``workers``
    single-threaded processes made (and closed) here."""
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        dask.config.set(LOCAL_CLUSTER_CONFIG),  # read as the nannies start the workers
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _prepare(task: FileTask, number: int | None, **options: Any) -> FileParts:
    """A worker's task: one file to Parquet chunks (the parts folder, or an external one)."""
    return prepare_file_parts(task, external_task=number, **options)


def _load_as_ready(
    store: Store,
    future: Future,
    task: FileTask,
    folder: Path,
    run: str,
    report: IngestReport,
    progress: IngestProgress | None,
) -> FileParts:
    """Load a task's chunks as its worker finishes them, then the rest once it returns."""
    loader = ChunkLoader(store, task, folder, run, progress)
    try:
        while not future.done():
            if not loader.poll():
                time.sleep(POLL_SECONDS)
        parts: FileParts = future.result()
        loader.finish(parts)
    finally:
        loader.close(report)
    return parts


def _run(
    client: Client,
    store: Store,
    tasks: list[FileTask],
    folder: Path,
    external_base: int | None,
    options: dict[str, Any],
    report: IngestReport,
    progress: IngestProgress | None,
) -> None:
    numbers = [None if external_base is None else external_base + i for i in range(len(tasks))]
    # The task's options go in a partial, not as keywords of map: map has keywords of its own
    # (batch_size among them). Passed that way, the chunk size never reached the workers,
    # whose chunks held prepare_file_parts' default 2,000 measurements: at 1M, the loader's
    # CPU fell by a fifth once they held the 10,000 (or 64 MiB) meant.
    prepare = functools.partial(_prepare, parts_dir=str(folder), **options)
    futures = client.map(prepare, tasks, numbers, pure=False)
    run = options["run"]
    # In input order, as ingest_paths writes: where two files hold the same measurement id
    # with different texts, the same one is kept either way.
    for future, task, number in zip(futures, tasks, numbers, strict=True):
        if progress is not None:
            progress.next_file(Path(task.path).name, task.size)
        if number is None:
            parts = _load_as_ready(store, future, task, folder, run, report, progress)
            parts.count_into(report)
        else:
            register_file_parts(store, future.result(), folder, number, report, progress)
        future.release()


def ingest_dask(
    store: Store,
    paths: Iterable[str | Path],
    *,
    scheduler: str | None = None,
    workers: int = DEFAULT_WORKERS,
    fingerprints: str | Path | None = None,
    parts_dir: str | Path | None = None,
    external: str | Path | None = None,
    progress: IngestProgress | None = None,
    batch_size: int | None = None,
) -> IngestReport:
    """Ingest files and directories on Dask (see module doc); the same report, rows and
    resumability as ``ingest_paths``. ``fingerprints``: a table's path (workers load it).
    ``external``: keep the rows as Parquet in this folder, registered as views
    (pipeline.external), instead of loading them into the store."""
    started = time.perf_counter()
    report = IngestReport()
    table = None
    if fingerprints is not None:
        resolve_fingerprints(fingerprints)  # a bad table fails here, once, not on every worker
        table = str(Path(fingerprints).resolve())
    tasks = files_to_ingest(store, list(paths), report)
    if progress is not None:
        progress.start(sum(t.size for t in tasks))
    base = None
    if external is not None:
        folder = Path(external).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        base = start_external(store, folder)
    elif parts_dir is None:
        folder = Path(tempfile.mkdtemp(prefix=".bw-parts-", dir=store.path.parent))
    else:
        folder = Path(parts_dir)
        folder.mkdir(parents=True, exist_ok=True)
    # The chunks' names carry this run's token (pipeline.bulk.chunk_stem).
    run = secrets.token_hex(4)
    options = {"fingerprints": table, "batch_size": batch_size or DEFAULT_CHUNK, "run": run}
    try:
        if tasks:
            with dask_client(scheduler, workers) as client, store.loading_alone():
                _run(client, store, tasks, folder, base, options, report, progress)
    finally:
        if external is None and parts_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    if external is not None:
        finish_external(store)
    try:  # as ingest_paths: the store file holds everything when this returns (and is timed)
        store.checkpoint()
    except StoreError as err:
        report.checkpoint_error = err
    if progress is not None:
        progress.finish()
    report.seconds = time.perf_counter() - started
    return report
