"""Ingesting measurements into the store while the lab runs, in a thread of its own.

DuckDB work then overlaps the next rounds instead of adding to them; the queue is
bounded, so a slow store slows the run rather than filling memory.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

from blockwatch.errors import BlockwatchError, LabError
from blockwatch.ooni.reader import RawDocument
from blockwatch.pipeline import ingest_documents
from blockwatch.store import Store

__all__ = ["Ingester"]

BATCH = 400


class Ingester:
    """Takes each round's documents; a thread of its own hands them to the pipeline."""

    def __init__(self, db: Path, source: Path) -> None:
        self.db = db
        self.source = str(source)
        self.line = 0
        self.added = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue[list[RawDocument] | None] = queue.Queue(maxsize=8)
        self._pending: list[RawDocument] = []
        self._thread = threading.Thread(target=self._work, name="lab-ingest", daemon=True)
        self._thread.start()

    def put(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            self.line += 1
            self._pending.append(RawDocument(self.source, self.line, doc))
        if len(self._pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.error is not None:
            raise LabError(f"ingest into {self.db} failed: {self.error}") from self.error
        if self._pending:
            self._queue.put(self._pending)
            self._pending = []

    def finish(self) -> int:
        self._flush()
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise LabError(f"ingest into {self.db} failed: {self.error}") from self.error
        return self.added

    def _work(self) -> None:
        try:
            self.db.parent.mkdir(parents=True, exist_ok=True)
            with Store(self.db) as store:
                while (batch := self._queue.get()) is not None:
                    self.added += ingest_documents(store, batch).added
        except (BlockwatchError, OSError) as exc:
            self.error = exc
            while self._queue.get() is not None:  # keep the producer from blocking
                pass
