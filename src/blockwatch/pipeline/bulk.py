"""Bulk ingest: read + verdict anywhere (a Dask worker), written as Parquet parts; the parts
loaded into the store here, through the same batch writer and the same rules as any ingest.

A worker runs :func:`prepare_file_parts` on one input file: every record goes through the very
``prepare`` of ``ingest_paths`` (parse, analyse, compress the raw text into blocks) and
each chunk of ``batch_size`` measurements becomes three Parquet files (measurement rows,
verdict rows, raw blocks), then a small marker (``.ready``: the chunk's last input line, its
duplicates, its networks' names) that says the chunk is whole. A :class:`ChunkLoader` writes
each chunk as one batch transaction as soon as its marker is there, while the worker goes on
with the file, with the input file's progress, so duplicates are skipped by measurement id, a
killed load resumes after its last committed chunk, and a later plain ingest of the same
files skips them: the store cannot tell which path its rows took.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.errors import InputError, MalformedMeasurement
from blockwatch.ooni.reader import expand_paths, iter_file
from blockwatch.pipeline.external import arrow_table, write_external_chunk
from blockwatch.pipeline.ingest import (
    DEFAULT_BATCH,
    MAX_RECORD_BYTES,
    IngestProgress,
    IngestReport,
    PreparedBatch,
    _todo,
    prepare,
)
from blockwatch.store import external, rows
from blockwatch.store.store import Store
from blockwatch.store.writer import Job, Writer

__all__ = [
    "DEFAULT_BATCH",
    "ChunkLoader",
    "FileParts",
    "FileTask",
    "files_to_ingest",
    "finish_external",
    "prepare_file_parts",
    "register_file_parts",
    "start_external",
]

# A chunk is also closed at this much raw JSON, so a worker's memory is bounded by bytes.
CHUNK_BYTES: Final = 64 * 1024 * 1024
MAX_ERRORS: Final = 1_000  # per file, sent back to the loader
_BLOCK_SCHEMA: Final = pa.schema([("data", pa.binary())])
_KINDS: Final = ("measurements", "verdicts", "blocks")
READY: Final = ".ready"  # a chunk's marker, written after its Parquet files


@dataclass(frozen=True)
class FileTask:
    """One input file to prepare: where, its bookkeeping key, and the lines committed."""

    path: str
    key: str
    size: int
    mtime_ns: int
    done: int


@dataclass
class FileParts:
    """What a worker made of one file: its chunks (Parquet stems, in order, each with the
    last input line it holds) and its counts; small, so it travels back to the loader."""

    task: FileTask
    # stem, last line, duplicates, bytes of JSON read (for the progress bar)
    chunks: list[tuple[str, int, int, int]] = field(default_factory=list)
    complete: bool = False
    read: int = 0
    malformed: int = 0
    analysis_failed: int = 0
    conflicts: int = 0
    unreadable: int = 0
    errors: list[tuple[str, int | None, str]] = field(default_factory=list)
    network_names: dict[str, str] = field(default_factory=dict)  # AS -> probe_network_name

    def count_into(self, report: IngestReport) -> None:
        """Add the worker's counts and errors to ``report``."""
        report.read += self.read
        report.malformed += self.malformed
        report.analysis_failed += self.analysis_failed
        report.conflicts += self.conflicts
        report.unreadable += self.unreadable
        for source, line, reason in self.errors:
            report.error(MalformedMeasurement(source, line, reason))


def files_to_ingest(store: Store, paths: list[str | Path], report: IngestReport) -> list[FileTask]:
    """The files of ``paths`` still to ingest (complete unchanged ones are skipped, counted in
    ``report``), as ingest_paths decides it."""
    files = expand_paths(paths, on_error=report.cannot_read)
    report.files = len(files)
    todo = _todo(store, files, report)
    return [FileTask(str(p), key, size, mtime, done) for p, key, size, mtime, done in todo]


@lru_cache(maxsize=4)
def _fingerprints(path: str | None) -> FingerprintTable | None:
    return FingerprintTable.load(Path(path)) if path is not None else None


def chunk_stem(
    task: FileTask, parts_dir: str | Path, external_task: int | None = None, run: str = ""
) -> Path:
    """Where the chunks of ``task`` go (``{stem}-{index:05d}.*``): named after the file and how
    far it was done, and after ``run`` (the loading run's token), so a chunk that a killed run
    left in a reused parts folder is never taken for this run's. External chunks keep their
    name across runs: a rerun writes over the chunks it did not register."""
    digest = hashlib.sha256(f"{task.key}|{task.mtime_ns}|{task.done}".encode()).hexdigest()
    if external_task is not None:
        return Path(parts_dir) / f"t{external_task}-{digest}"[:24]  # its task: block ids
    return Path(parts_dir) / f"{run}{digest}"[:24]


def _write_chunk(batch: PreparedBatch, stem: Path, marker: dict[str, object]) -> None:
    batch.close_block()
    measurements = arrow_table(rows.MEASUREMENT_ROWS, list(batch.measurements.values()))
    verdicts = arrow_table(rows.VERDICT_ROWS, batch.verdicts)
    # The batch's blocks are one buffer already (rawcodec.BlockArray): no list of bytes.
    data = batch.blocks.arrow().cast(pa.binary())
    blocks = pa.Table.from_arrays([data], schema=_BLOCK_SCHEMA)
    # Parts live minutes and the raw texts in them are compressed blocks already: compressing the
    # files again would cost the workers and the loader CPU and save little disk. Plain
    # encoding too: dictionaries cost the worker ~3 and the loader ~1.3 us a measurement
    # (the blocks, all distinct, were hashed and then written plain anyway).
    for table, kind in zip((measurements, verdicts, blocks), _KINDS, strict=True):
        pq.write_table(table, f"{stem}.{kind}.parquet", compression="none", use_dictionary=False)
    # Renamed into place last: a loader that sees the marker finds the chunk whole.
    Path(f"{stem}{READY}.tmp").write_bytes(orjson.dumps(marker))
    os.replace(f"{stem}{READY}.tmp", f"{stem}{READY}")


def prepare_file_parts(
    task: FileTask,
    parts_dir: str,
    fingerprints: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    external_task: int | None = None,
    run: str = "",
) -> FileParts:
    """Read and analyse one file (from the line after ``task.done``) into Parquet chunks under
    ``parts_dir``. Runs on a worker: pure but for reading the input and writing the parts.
    With ``external_task`` (the task's number in the store), ``parts_dir`` is an external
    folder and the chunks are written to stay there (pipeline.external)."""
    table = _fingerprints(fingerprints)
    result = FileParts(task)
    report = IngestReport()
    stem = chunk_stem(task, parts_dir, external_task, run)
    batch, last = PreparedBatch(), task.done

    def close(final: bool = False) -> None:
        nonlocal batch
        name = f"{stem}-{len(result.chunks):05d}"
        if external_task is None:
            marker = {
                "line": last,
                "duplicates": batch.duplicates,
                "bytes": batch.raw_bytes,
                "names": batch.network_names,
                "final": final and result.complete,
                "last": final,
            }
            _write_chunk(batch, Path(name), marker)
        else:
            write_external_chunk(
                batch, Path(parts_dir), Path(name).name, external_task, len(result.chunks)
            )
        result.chunks.append((name, last, batch.duplicates, batch.raw_bytes))
        for asn, network in batch.network_names.items():
            result.network_names.setdefault(asn, network)
        batch = PreparedBatch()

    try:
        for item in iter_file(Path(task.path), max_line_bytes=MAX_RECORD_BYTES):
            line = item.line if item.line is not None else 0
            if item.line is not None and item.line <= task.done:
                continue  # committed by an earlier, interrupted run
            last = max(last, line)
            report.read += 1
            if isinstance(item, MalformedMeasurement):
                report.malformed += 1
                report.error(item)
            else:
                prepare(batch, item.source, item.line, item.doc, table, report, item.raw)
            if len(batch) >= batch_size or batch.raw_bytes >= CHUNK_BYTES:
                close()
        result.complete = True
    except InputError as err:
        report.cannot_read(err)
    close(final=True)  # the last chunk (maybe empty) carries the file's final progress
    result.read, result.malformed = report.read, report.malformed
    result.analysis_failed = report.analysis_failed
    result.conflicts, result.unreadable = report.conflicts, report.unreadable
    result.errors = [(e.source, e.line, e.reason) for e in report.errors[:MAX_ERRORS]]
    return result


def _read_part(path: str) -> pa.Table:
    """A part as written: memory-mapped, on this thread (pyarrow's dataset reader and its thread
    pool cost the loader three times as much CPU for these small uncompressed files)."""
    return pq.ParquetFile(path, memory_map=True).read(use_threads=False)


class ChunkLoader:
    """Writes one task's chunks into the store, in order, a transaction each: :meth:`poll`
    loads those whose worker has finished them (their markers are there) while it goes on
    with the file, :meth:`finish` the rest once the task has returned. So the store's one
    writer keeps up with the workers instead of starting on a file when they are done with
    it, and what is left when the last task returns is a chunk, not a file."""

    def __init__(
        self,
        store: Store,
        task: FileTask,
        parts_dir: str | Path,
        run: str,
        progress: IngestProgress | None = None,
    ) -> None:
        self.task = task
        self.stem = chunk_stem(task, parts_dir, run=run)
        self.writer = Writer(store, False, None)
        self.progress = progress
        self.loaded = 0  # chunks committed
        self.last = False  # whether the task's last chunk is one of them
        # The networks named so far: as a whole file's names went with its first chunk, the
        # first name an AS has in the file is written, once (every chunk's upsert of names
        # the last one changed took 11 % of the loader in a 1M bench run).
        self.named: set[str] = set()

    def _load(
        self, name: str, chunk: tuple[int, int, int], names: dict[str, str], final: bool
    ) -> None:
        line, duplicates, nbytes = chunk
        # Arrow tables straight into DuckDB: the loader makes no Python object per row.
        blocks = _read_part(f"{name}.blocks.parquet").column("data").combine_chunks()
        names = {asn: network for asn, network in names.items() if asn not in self.named}
        self.named.update(names)
        self.writer.submit(
            Job(
                rows=_read_part(f"{name}.measurements.parquet"),
                verdicts=_read_part(f"{name}.verdicts.parquet"),
                progress=[(self.task.key, self.task.size, self.task.mtime_ns, line, final)],
                raw_bytes=0,
                duplicates=duplicates,
                blocks=blocks,
                network_names=names,
            )
        )
        self.loaded += 1
        if self.progress is not None and nbytes:
            self.progress.advance(nbytes)
        for suffix in (*(f".{kind}.parquet" for kind in _KINDS), READY):
            Path(f"{name}{suffix}").unlink(missing_ok=True)

    def poll(self) -> int:
        """Load every chunk ready, in order; returns how many."""
        before = self.loaded
        while not self.last:
            name = f"{self.stem}-{self.loaded:05d}"
            try:
                marker = orjson.loads(Path(f"{name}{READY}").read_bytes())
            except FileNotFoundError:
                break
            self.last = bool(marker["last"])
            chunk = (int(marker["line"]), int(marker["duplicates"]), int(marker["bytes"]))
            self._load(name, chunk, dict(marker["names"]), bool(marker["final"]))
        return self.loaded - before

    def finish(self, parts: FileParts) -> None:
        """Load what is left of the task's chunks, which has returned ``parts``: by their
        markers, or by the list in ``parts`` where a marker is not seen yet (a shared
        volume's cache)."""
        self.poll()
        for index in range(self.loaded, len(parts.chunks)):
            name, line, duplicates, nbytes = parts.chunks[index]
            final = parts.complete and index == len(parts.chunks) - 1
            self._load(name, (line, duplicates, nbytes), parts.network_names, final)

    def close(self, report: IngestReport) -> None:
        """Wait for the writer; its counts go to ``report``."""
        try:
            self.writer.close()
        finally:
            report.added += self.writer.added
            report.duplicates += self.writer.duplicates
            for measurement_id, source in self.writer.conflicts:
                report.conflict(measurement_id, source)


def start_external(store: Store, folder: Path) -> int:
    """Make the store ready to register ``folder``'s chunks; the first free task number."""
    with store.transaction() as con:
        return external.prepare(con, folder)


def register_file_parts(
    store: Store,
    parts: FileParts,
    folder: Path,
    task: int,
    report: IngestReport,
    progress: IngestProgress | None = None,
) -> None:
    """Register one file's chunks (a transaction each, with the file's progress); the counts
    go to ``report`` as a ChunkLoader counts a plain load, the bytes to ``progress``."""
    for index, (stem, last, duplicates, nbytes) in enumerate(parts.chunks):
        final = parts.complete and index == len(parts.chunks) - 1
        done = [(parts.task.key, parts.task.size, parts.task.mtime_ns, last, final)]
        names = parts.network_names if index == 0 else {}
        with store.transaction() as con:
            added, skipped = external.register_chunk(
                con, folder, Path(stem).name, task, done, names
            )
        report.added += added
        report.duplicates += duplicates + skipped
        if progress is not None and nbytes:
            progress.advance(nbytes)
    parts.count_into(report)


def finish_external(store: Store) -> None:
    """(Re)create the views over every registered folder; the store reads through them."""
    with store.transaction() as con:
        external.create_views(con)
    store.use_external()
