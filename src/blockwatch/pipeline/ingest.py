"""Idempotent, resumable, batched ingest: OONI documents -> measurements + verdicts in the store.

Documents are parsed and analysed in the middle (pure), then written a batch at a time by the
store's batch writer: one transaction inserts the batch's measurements and verdicts and records
how far each input file got. A crash therefore loses at most the batch in flight; the next run
skips complete files and the committed lines of a partial one, and the measurement_id primary
key makes any overlap harmless. A bad record is reported with file and line and skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.analysis.verdict import analyze
from blockwatch.errors import InputError, MalformedMeasurement, StoreError
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import RawDocument, expand_paths, iter_file, uncompressed_size
from blockwatch.store import schema
from blockwatch.store.conflicts import same_document
from blockwatch.store.rawcodec import BlockArray, BlockBuilder, decompress_block
from blockwatch.store.store import Store
from blockwatch.store.writer import Job, Writer

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_BATCH_BYTES",
    "MAX_ERRORS_KEPT",
    "MAX_RECORD_BYTES",
    "Fingerprints",
    "IngestProgress",
    "IngestReport",
    "ingest_documents",
    "ingest_paths",
    "resolve_fingerprints",
]

DEFAULT_BATCH: Final = 2_000
# A batch is also closed at this many bytes of JSON: the count alone let 2,000 records of
# 10 MiB make one 20 GB batch. 64 MiB keeps a batch of ordinary measurements (~10 KiB) at
# its 2,000 records, and a batch of huge ones within a few hundred MiB of memory in all.
DEFAULT_BATCH_BYTES: Final = 64 * 1024 * 1024
MAX_ERRORS_KEPT: Final = 10_000  # the counts stay exact; only the list is capped
# OONI probes cap each body at 512 KiB, so a record this large is junk or an attack: it is
# reported and skipped without being decoded.
MAX_RECORD_BYTES: Final = 16 * 1024 * 1024


@dataclass
class IngestReport:
    """What one ingest did. ``read`` counts records looked at (good and bad); ``conflicts``
    are records whose measurement_id was taken by a different document (the first one stays);
    ``unreadable`` counts files and directories that could not be opened or listed. Each of
    these, like each malformed record, is listed in ``errors`` by path (and line)."""

    read: int = 0
    added: int = 0
    duplicates: int = 0
    conflicts: int = 0
    malformed: int = 0
    analysis_failed: int = 0
    unreadable: int = 0
    files: int = 0
    files_skipped: int = 0
    seconds: float = 0.0
    errors: list[MalformedMeasurement] = field(default_factory=list)
    # Why the final checkpoint failed (the data is in the WAL, see Store.checkpoint), or None.
    checkpoint_error: StoreError | None = None

    def error(self, err: MalformedMeasurement) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(err)

    def conflict(self, measurement_id: str, where: str, kept: str | None = None) -> None:
        """A record whose id holds a different document; ``where`` is its ``source:line``
        (as the measurement rows store it) or its source alone."""
        self.conflicts += 1
        first = f" (kept: {kept})" if kept else " (the stored one is kept)"
        reason = f"conflict: measurement_id {measurement_id} holds a different document{first}"
        source, _, line = where.rpartition(":")
        if source and line.isdigit():  # the line apart, as for any bad record
            self.error(MalformedMeasurement(source, int(line), reason))
        else:
            self.error(MalformedMeasurement(where, None, reason))

    def cannot_read(self, err: InputError) -> None:
        self.unreadable += 1
        self.error(MalformedMeasurement(err.path, None, err.reason))

    @property
    def problems(self) -> int:
        """Every entry ``errors`` would hold without its cap."""
        return self.malformed + self.analysis_failed + self.conflicts + self.unreadable


# --- the pure middle ----------------------------------------------------------------------


@dataclass
class PreparedBatch:
    """Table rows of the documents prepared so far; a document is turned into rows as soon as
    it arrives, so a batch holds compact rows, not thousands of decoded JSON trees (holding
    the trees made orjson and zlib several times slower: cold memory on every allocation).

    Raw texts are compressed as they arrive into the open block (rawcodec). Blocks are
    numbered within the batch (0, 1, ...): Store.write_batch gives them their ids when it
    writes them, inside the batch's transaction."""

    measurements: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    verdicts: list[tuple[Any, ...]] = field(default_factory=list)
    blocks: BlockArray = field(default_factory=BlockArray)
    raw_bytes: int = 0  # size of the JSON written, for the progress bar
    duplicates: int = 0  # the same measurement twice within this batch
    _builder: BlockBuilder | None = None

    def __len__(self) -> int:
        return len(self.measurements)

    def add_text(self, text: bytes) -> tuple[int, int, int]:
        """Compress one raw text into the open block: (its number in the batch, offset,
        length)."""
        if self._builder is None:
            self._builder = BlockBuilder()
        offset, length = self._builder.add(text)
        number = len(self.blocks)
        if self._builder.full:
            self.close_block()
        return number, offset, length

    def close_block(self) -> None:
        if self._builder is not None:
            self._builder.finish_into(self.blocks)
            self._builder = None

    def text_of(self, where: tuple[int, int, int]) -> bytes:
        """The text at (block number, offset, length) in this batch (closes the open block
        when the text is in it: only a measurement met twice in one batch needs this)."""
        number, offset, length = where
        if number == len(self.blocks):
            self.close_block()
        whole = decompress_block(self.blocks.block(number))
        return whole[offset : offset + length]


# A fingerprint table, a path to load one from, or None (the analyzer's shipped table).
Fingerprints = FingerprintTable | str | Path | None


def resolve_fingerprints(fingerprints: Fingerprints) -> FingerprintTable | None:
    """The table to analyse with: ``fingerprints`` itself, or loaded from its path."""
    if fingerprints is None or isinstance(fingerprints, FingerprintTable):
        return fingerprints
    return FingerprintTable.load(Path(fingerprints))


class IngestProgress(Protocol):
    """Where ingest reports how far it got (the CLI's progress bar); bytes are of JSON."""

    def start(self, total: int) -> None: ...
    def next_file(self, name: str, size: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def finish(self) -> None: ...


def prepare(
    batch: PreparedBatch,
    source: str,
    line: int | None,
    doc: dict[str, Any],
    fingerprints: FingerprintTable | None,
    report: IngestReport,
    text: bytes | None = None,
) -> None:
    """Parse, analyse and serialise one document into the batch's rows; errors go to the
    report (a bad record is skipped; a failed analysis keeps the measurement, no verdict).
    ``text``: the JSON the document was read from, stored as is (else ``doc`` is encoded)."""
    try:
        m = parse_measurement(doc, source, line)
    except MalformedMeasurement as err:
        report.malformed += 1
        report.error(err)
        return
    try:
        # Byte-exact where the text came with it, and no re-encoding (~50 us of a 10 KiB
        # measurement). Nothing downstream encodes it again: the report hashes these bytes.
        raw = orjson.dumps(m.raw) if text is None else text
    except orjson.JSONEncodeError as exc:
        report.malformed += 1
        report.error(MalformedMeasurement(source, line, f"cannot re-encode: {exc}"))
        return
    if m.measurement_id in batch.measurements:
        first = batch.measurements[m.measurement_id]
        if same_document(batch.text_of(first[-3:]), raw):
            batch.duplicates += 1
        else:
            report.conflict(
                m.measurement_id, f"{source}:{line}" if line is not None else source, first[8]
            )
        return
    batch.raw_bytes += len(raw)
    # Compressed now, while the text is in the CPU cache (bench: cheaper than a batch later,
    # even on the writer thread's core).
    block_id, offset, length = batch.add_text(raw)
    batch.measurements[m.measurement_id] = (
        m.measurement_id,
        m.report_id,
        m.test_name,
        m.input,
        m.domain,
        m.probe_cc,
        m.probe_asn,
        m.measured_at,  # aware UTC: stored as UTC by the Arrow insert (verdict_row)
        f"{source}:{line}" if line is not None else source,
        block_id,
        offset,
        length,
    )
    try:
        verdict = analyze(m, fingerprints)
    except Exception as exc:  # a rule bug must not sink the batch
        report.analysis_failed += 1
        report.error(
            MalformedMeasurement(source, line, f"analysis failed: {type(exc).__name__}: {exc}")
        )
        return
    batch.verdicts.append(schema.verdict_row(verdict))


# --- the edges: files, bookkeeping, batches ---------------------------------------------------


class _Batcher:
    """Collects documents and file progress; hands one transaction per batch to the writer."""

    def __init__(
        self,
        store: Store,
        fingerprints: FingerprintTable | None,
        batch_size: int,
        report: IngestReport,
        on_flush: Callable[[int], None] | None = None,
        threaded: bool = False,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        self.fingerprints = fingerprints
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.report = report
        self.writer = Writer(store, threaded, on_flush)
        self.batch = PreparedBatch()
        self.progress: dict[str, tuple[str, int, int, int, bool]] = {}

    def add(
        self, source: str, line: int | None, doc: dict[str, Any], text: bytes | None = None
    ) -> None:
        self.report.read += 1
        prepare(self.batch, source, line, doc, self.fingerprints, self.report, text)
        if len(self.batch) >= self.batch_size or self.batch.raw_bytes >= self.batch_bytes:
            self.flush()

    def mark(self, key: str, size: int, mtime_ns: int, line: int, complete: bool) -> None:
        self.progress[key] = (key, size, mtime_ns, line, complete)

    def flush(self) -> None:
        batch = self.batch
        if not batch.measurements and not self.progress:
            return
        batch.close_block()  # a batch's blocks are written in its own transaction
        rows = list(batch.measurements.values())
        job = Job(
            rows,
            batch.verdicts,
            list(self.progress.values()),
            batch.raw_bytes,
            batch.duplicates,
            batch.blocks.arrow() if len(batch.blocks) else [],
        )
        self.batch = PreparedBatch()
        self.progress = {}
        self.writer.submit(job)

    def finish(self) -> None:
        """Wait for the writer (nothing pending is flushed) and count what it wrote."""
        try:
            self.writer.close()
        finally:
            self.report.added = self.writer.added
            self.report.duplicates = self.writer.duplicates
            for measurement_id, source in self.writer.conflicts:
                self.report.conflict(measurement_id, source)


def ingest_paths(
    store: Store,
    paths: Iterable[str | Path],
    *,
    fingerprints: Fingerprints = None,
    progress: IngestProgress | None = None,
    batch_size: int | None = None,
    threaded: bool = False,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> IngestReport:
    """Ingest files and directories; resumable (see module doc). Raises InputError for a
    path that does not exist; a file that breaks mid-way is reported and the rest continue.
    A batch closes at ``batch_size`` records or ``batch_bytes`` of JSON, whichever comes first.
    ``threaded``: write in a background thread (see store.writer.Writer). Off by default: it
    saves wall time only when a core is free (bench, 100k measurements: 43 s against 61 s
    inline on a quiet moment, 119 s against 69 s on a busy 2-core machine)."""

    started = time.perf_counter()
    report = IngestReport()
    table = resolve_fingerprints(fingerprints)
    files = expand_paths(paths, on_error=report.cannot_read)
    todo = _todo(store, files, report)
    report.files = len(files)
    if progress is not None:
        progress.start(sum(uncompressed_size(p) for p, *_ in todo))
    batcher = _Batcher(
        store,
        table,
        batch_size or DEFAULT_BATCH,
        report,
        progress.advance if progress is not None else None,
        threaded=threaded,
        batch_bytes=batch_bytes,
    )
    try:
        for path, key, size, mtime_ns, done in todo:
            if progress is not None:
                progress.next_file(path.name, uncompressed_size(path))
            _ingest_file(batcher, report, path, key, size, mtime_ns, done)
        batcher.flush()
    finally:
        # On an exception nothing pending is flushed (its progress mark may be ahead of its
        # documents); batches already handed to the writer are committed.
        batcher.finish()
    try:
        store.checkpoint()
    except StoreError as err:
        report.checkpoint_error = err
    if progress is not None:
        progress.finish()
    report.seconds = time.perf_counter() - started
    return report


def _todo(
    store: Store, files: list[Path], report: IngestReport
) -> list[tuple[Path, str, int, int, int]]:
    """(path, key, size, mtime, lines done) of each file still to read: a complete file that
    has not changed since is skipped, a partial one resumes after its committed lines."""
    seen = store.file_progress()
    todo = []
    for path in files:
        try:
            st = path.stat()
            key = str(path.resolve())
        except OSError as exc:  # gone or unreachable since the walk
            report.cannot_read(InputError(str(path), f"cannot read: {exc.strerror}"))
            continue
        prev = seen.get(key)
        unchanged = prev is not None and prev[0] == st.st_size and prev[1] == st.st_mtime_ns
        if unchanged and prev is not None and prev[3]:
            report.files_skipped += 1
            continue
        done = prev[2] if unchanged and prev is not None else 0
        todo.append((path, key, st.st_size, st.st_mtime_ns, done))
    return todo


def _ingest_file(
    batcher: _Batcher,
    report: IngestReport,
    path: Path,
    key: str,
    size: int,
    mtime_ns: int,
    done: int,
) -> None:
    last = done
    try:
        for item in iter_file(path, max_line_bytes=MAX_RECORD_BYTES):
            line = item.line if item.line is not None else 0
            if item.line is not None and item.line <= done:
                continue  # committed by an earlier, interrupted run
            last = max(last, line)
            # Marked before the add: a flush commits this line with its document.
            batcher.mark(key, size, mtime_ns, last, False)
            if isinstance(item, MalformedMeasurement):
                report.read += 1
                report.malformed += 1
                report.error(item)
            else:
                batcher.add(item.source, item.line, item.doc, item.raw)
    except InputError as err:
        report.cannot_read(err)
        return  # not marked complete: a later run tries this file again
    batcher.mark(key, size, mtime_ns, last, True)


def ingest_documents(
    store: Store,
    documents: Iterable[RawDocument | MalformedMeasurement | dict[str, Any]],
    *,
    fingerprints: Fingerprints = None,
    batch_size: int = 0,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> IngestReport:
    """Ingest documents as they are produced (probe, lab): RawDocument or plain dicts.
    A MalformedMeasurement in the stream is counted and reported, like in a file."""
    started = time.perf_counter()
    report = IngestReport()
    table = resolve_fingerprints(fingerprints)
    batcher = _Batcher(store, table, batch_size or DEFAULT_BATCH, report, batch_bytes=batch_bytes)
    for index, item in enumerate(documents, start=1):
        if isinstance(item, MalformedMeasurement):
            report.read += 1
            report.malformed += 1
            report.error(item)
        elif isinstance(item, dict):
            batcher.add("<documents>", index, item)
        else:
            batcher.add(item.source, item.line, item.doc, item.raw)
    batcher.flush()
    batcher.finish()
    report.seconds = time.perf_counter() - started
    return report
