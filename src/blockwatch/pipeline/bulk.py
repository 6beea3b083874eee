"""Bulk ingest: read + verdict anywhere (a Dask worker), written as Parquet parts; the parts
loaded into the store here, through the same batch writer and the same rules as any ingest.

A worker runs :func:`prepare_file_parts` on one input file: every record goes through the very
``prepare`` of ``ingest_paths`` (parse, analyse, compress the raw text into LZ4 blocks) and
each chunk of ``batch_size`` measurements becomes three Parquet files (measurement rows,
verdict rows, raw blocks). :func:`load_file_parts` then writes each chunk as one batch
transaction, with the input file's progress, so duplicates are skipped by measurement id, a
killed load resumes after its last committed chunk, and a later plain ingest of the same
files skips them: the store cannot tell which path its rows took.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.errors import InputError, MalformedMeasurement
from blockwatch.ooni.reader import expand_paths, iter_file
from blockwatch.pipeline.external import arrow_table, write_external_chunk
from blockwatch.pipeline.ingest import (
    DEFAULT_BATCH,
    MAX_RECORD_BYTES,
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
    "FileParts",
    "FileTask",
    "files_to_ingest",
    "finish_external",
    "load_file_parts",
    "prepare_file_parts",
    "register_file_parts",
    "start_external",
]

# A chunk is also closed at this much raw JSON, so a worker's memory is bounded by bytes.
CHUNK_BYTES: Final = 64 * 1024 * 1024
MAX_ERRORS: Final = 1_000  # per file, sent back to the loader
_BLOCK_SCHEMA: Final = pa.schema([("data", pa.binary())])


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
    chunks: list[tuple[str, int, int]] = field(default_factory=list)  # stem, line, duplicates
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


def _write_chunk(batch: PreparedBatch, stem: Path) -> None:
    batch.close_block()
    measurements = arrow_table(rows.MEASUREMENT_ROWS, list(batch.measurements.values()))
    verdicts = arrow_table(rows.VERDICT_ROWS, batch.verdicts)
    # The batch's blocks are one buffer already (rawcodec.BlockArray): no list of bytes.
    data = batch.blocks.arrow().cast(pa.binary())
    blocks = pa.Table.from_arrays([data], schema=_BLOCK_SCHEMA)
    # Parts live minutes and the raw texts in them are LZ4 blocks already: compressing the
    # files again would cost the workers and the loader CPU and save little disk. Plain
    # encoding too: dictionaries cost the worker ~3 and the loader ~1.3 us a measurement
    # (the blocks, all distinct, were hashed and then written plain anyway).
    for table, kind in ((measurements, "measurements"), (verdicts, "verdicts"), (blocks, "blocks")):
        pq.write_table(table, f"{stem}.{kind}.parquet", compression="none", use_dictionary=False)


def prepare_file_parts(
    task: FileTask,
    parts_dir: str,
    fingerprints: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    external_task: int | None = None,
) -> FileParts:
    """Read and analyse one file (from the line after ``task.done``) into Parquet chunks under
    ``parts_dir``. Runs on a worker: pure but for reading the input and writing the parts.
    With ``external_task`` (the task's number in the store), ``parts_dir`` is an external
    folder and the chunks are written to stay there (pipeline.external)."""
    table = _fingerprints(fingerprints)
    result = FileParts(task)
    report = IngestReport()
    digest = hashlib.sha256(f"{task.key}|{task.mtime_ns}|{task.done}".encode()).hexdigest()
    if external_task is not None:
        digest = f"t{external_task}-{digest}"  # a chunk's name says its task (block ids)
    stem = Path(parts_dir) / digest[:24]
    batch, last = PreparedBatch(), task.done

    def close() -> None:
        nonlocal batch
        name = f"{stem}-{len(result.chunks):05d}"
        if external_task is None:
            _write_chunk(batch, Path(name))
        else:
            write_external_chunk(
                batch, Path(parts_dir), Path(name).name, external_task, len(result.chunks)
            )
        result.chunks.append((name, last, batch.duplicates))
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
    close()  # the last chunk (maybe empty) carries the file's final progress
    result.read, result.malformed = report.read, report.malformed
    result.analysis_failed = report.analysis_failed
    result.conflicts, result.unreadable = report.conflicts, report.unreadable
    result.errors = [(e.source, e.line, e.reason) for e in report.errors[:MAX_ERRORS]]
    return result


def _read_part(path: str) -> pa.Table:
    """A part as written: memory-mapped, on this thread (pyarrow's dataset reader and its thread
    pool cost the loader three times as much CPU for these small uncompressed files)."""
    return pq.ParquetFile(path, memory_map=True).read(use_threads=False)


def load_file_parts(store: Store, parts: FileParts, report: IngestReport) -> None:
    """Write one file's chunks into the store, a transaction each, with the file's progress;
    the counts go to ``report``. The chunk files are removed once committed."""
    writer = Writer(store, False, None)
    task = parts.task
    try:
        for index, (stem, last, duplicates) in enumerate(parts.chunks):
            final = parts.complete and index == len(parts.chunks) - 1
            # Arrow tables straight into DuckDB: the loader makes no Python object per row.
            blocks = _read_part(f"{stem}.blocks.parquet").column("data").combine_chunks()
            writer.submit(
                Job(
                    rows=_read_part(f"{stem}.measurements.parquet"),
                    verdicts=_read_part(f"{stem}.verdicts.parquet"),
                    progress=[(task.key, task.size, task.mtime_ns, last, final)],
                    raw_bytes=0,
                    duplicates=duplicates,
                    blocks=blocks,
                    # The file's network names, with its first chunk.
                    network_names=parts.network_names if index == 0 else {},
                )
            )
            for kind in ("measurements", "verdicts", "blocks"):
                Path(f"{stem}.{kind}.parquet").unlink(missing_ok=True)
    finally:
        writer.close()
        report.added += writer.added
        report.duplicates += writer.duplicates
        for measurement_id, source in writer.conflicts:
            report.conflict(measurement_id, source)
    parts.count_into(report)


def start_external(store: Store, folder: Path) -> int:
    """Make the store ready to register ``folder``'s chunks; the first free task number."""
    with store.transaction() as con:
        return external.prepare(con, folder)


def register_file_parts(
    store: Store, parts: FileParts, folder: Path, task: int, report: IngestReport
) -> None:
    """Register one file's chunks (a transaction each, with the file's progress); the counts
    go to ``report`` as load_file_parts counts a plain load."""
    for index, (stem, last, duplicates) in enumerate(parts.chunks):
        final = parts.complete and index == len(parts.chunks) - 1
        progress = [(parts.task.key, parts.task.size, parts.task.mtime_ns, last, final)]
        names = parts.network_names if index == 0 else {}
        with store.transaction() as con:
            added, skipped = external.register_chunk(
                con, folder, Path(stem).name, task, progress, names
            )
        report.added += added
        report.duplicates += duplicates + skipped
    parts.count_into(report)


def finish_external(store: Store) -> None:
    """(Re)create the views over every registered folder; the store reads through them."""
    with store.transaction() as con:
        external.create_views(con)
    store.use_external()
