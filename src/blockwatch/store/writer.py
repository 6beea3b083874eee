"""Writing prepared batches to the store: one transaction per batch, in
order, either inline or in one background thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from blockwatch.store.store import Store


@dataclass
class Job:
    """One batch for one transaction."""

    # Row tuples, or Arrow tables of the same columns (a bulk load's parts, no Python rows)
    rows: list[tuple[Any, ...]] | pa.Table
    verdicts: list[tuple[Any, ...]] | pa.Table
    progress: list[tuple[str, int, int, int, bool]]
    raw_bytes: int
    duplicates: int
    # raw_blocks data, as bytes or an Arrow binary array; the rows' raw_block numbers them from 0
    blocks: Sequence[bytes] | pa.Array
    network_names: dict[str, str] = field(default_factory=dict)  # AS -> probe_network_name


class Writer:
    """Writes batches in order, in this thread or in one background thread.

    DuckDB releases the GIL, so with a thread the Arrow conversion and the insert of batch
    N overlap parsing and analysing batch N+1 on a second core. Batches stay one transaction
    each, committed in order, so crash safety is the same as writing inline."""

    def __init__(
        self, store: Store, threaded: bool, on_flush: Callable[[int], None] | None
    ) -> None:
        self.store = store
        self.on_flush = on_flush
        self.added = 0
        self.duplicates = 0
        # (measurement_id, source) of records whose id was stored with a different document
        self.conflicts: list[tuple[str, str]] = []
        self._error: BaseException | None = None
        self._raised = False
        self._queue: queue.Queue[Job | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            # maxsize 1: at most one batch waits, so memory stays bounded when writing is slow.
            self._queue = queue.Queue(maxsize=1)
            self._thread = threading.Thread(target=self._run, name="bw-writer", daemon=True)
            self._thread.start()

    def _write(self, job: Job) -> None:
        conflicts: list[tuple[str, str]] = []
        added = self.store.write_batch(
            job.rows,
            job.verdicts,
            job.progress,
            job.blocks,
            conflicts=conflicts,
            network_names=job.network_names,
        )
        self.added += added
        self.conflicts += conflicts
        self.duplicates += job.duplicates + len(job.rows) - added - len(conflicts)
        if self.on_flush is not None:
            self.on_flush(job.raw_bytes)

    def _run(self) -> None:
        assert self._queue is not None
        while (job := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(job)
                except BaseException as exc:  # handed to the main thread by submit/close
                    self._error = exc

    def _raise(self) -> None:
        # The error stays set: the thread then skips every later batch, so nothing is written
        # after a failed batch (a resumed run starts from the last good one).
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def submit(self, job: Job) -> None:
        if self._queue is None:
            try:
                self._write(job)
            except BaseException as exc:
                self._error, self._raised = exc, True
                raise
            return
        self._raise()
        self._queue.put(job)

    def close(self) -> None:
        """Wait for every submitted batch; re-raise a failure of the writer thread."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        self._raise()
