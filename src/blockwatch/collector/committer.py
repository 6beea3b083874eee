"""Group commit: submissions wait together for one pipeline transaction, then are acknowledged.

A measurement's uid goes back to the probe only after the COMMIT of the batch holding it, so
an acknowledged measurement survives a crash. While the writer commits one batch, what arrives
queues up and becomes the next batch (at most ``max_batch``): a lone probe is not kept waiting
for company, and under load batches grow by themselves. Writes happen on one thread, the
store's single writer.

Events are kept current beside the commits, not between them: after a commit whose
measurements are newer than any seen before (and every few seconds for late data) the touched
countries' events are recomputed on a thread of their own, reading a snapshot through a
cursor, and only the replacement of their rows goes through the writer. Refreshes coalesce:
one waits ``REFRESH_SHARE`` times as long as the previous one took (and at least
``events_every`` seconds), so however large a country's history grows, recomputing it takes
a bounded share of the time and commits go on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from blockwatch.analysis.records import Event
from blockwatch.errors import BlockwatchError, MalformedMeasurement, SubmissionError
from blockwatch.ooni.measurement import parse_time
from blockwatch.pipeline import (
    Fingerprints,
    IngestReport,
    detect_country_events,
    ingest_documents,
    resolve_fingerprints,
    store_country_events,
)
from blockwatch.store import Store

__all__ = ["REFRESH_SHARE", "CommitStats", "Committer"]

# A refresh of the events waits this many times as long as the previous one took: about a
# tenth of the time at most goes to recomputing events, whatever the store's size (a
# country's whole history is read and detected again; under load that was most of the
# server's CPU).
REFRESH_SHARE: Final = 9.0

# Called with the recomputed events of the countries touched, the earliest measurement time
# committed since the previous call (events over before it are history, not news), the newest
# measurement time seen so far, and the newest as of the previous call.
EventsListener = Callable[[list[Event], datetime | None, datetime | None, datetime | None], Any]


@dataclass
class _Pending:
    doc: dict[str, Any]
    future: asyncio.Future[None]


@dataclass
class CommitStats:
    """Counters for the status route and the bench."""

    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    refreshes: int = 0
    last_commit_seconds: float = 0.0
    dirty: dict[str, datetime] = field(default_factory=dict)  # country -> earliest time
    latest: datetime | None = None  # the newest measurement time committed
    refreshed_to: datetime | None = None  # ``latest`` as of the last events refresh
    settled_to: datetime | None = None  # ``refreshed_to`` before the newest data arrived


class Committer:
    """``await committer.submit(doc)`` returns once ``doc`` is committed."""

    def __init__(
        self,
        store: Store,
        *,
        fingerprints: Fingerprints = None,
        max_batch: int = 1000,
        events_every: float = 2.0,
        on_events: EventsListener | None = None,
    ) -> None:
        self.store = store
        self.fingerprints = resolve_fingerprints(fingerprints)  # loaded once, not per batch
        self.max_batch = max_batch
        self.events_every = events_every
        self.on_events = on_events
        self.stats = CommitStats()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="blockwatch-writer")
        # Events are detected here, on a snapshot, while the writer goes on committing.
        self._detector = ThreadPoolExecutor(1, thread_name_prefix="blockwatch-events")
        self._tasks: list[asyncio.Task[None]] = []
        self._last_refresh = 0.0
        self._refresh_seconds = 0.0  # how long the last refresh took
        self._refreshing = asyncio.Lock()
        self._fresh = asyncio.Event()  # set by a commit of newer data than any before
        self._stopping = False

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._commit_loop()),
            asyncio.create_task(self._events_loop()),
        ]

    async def stop(self) -> None:
        """Commit what is queued, refresh events once more, then stop the writer thread."""
        # Python 3.11's wait_for loses a cancel that lands as its wait ends (the last commit
        # sets _fresh): the events loop also stops on this flag, or stop() waits forever.
        self._stopping = True
        self._fresh.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not self._queue.empty():
            await self._commit(self._drain(self.max_batch))
        await self.refresh_now()
        self._writer.shutdown(wait=True)
        self._detector.shutdown(wait=True)

    async def submit(self, doc: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(doc, future))
        await future

    async def run_on_writer(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the writer thread (serialised with commits)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    def _drain(self, most: int) -> list[_Pending]:
        batch: list[_Pending] = []
        while not self._queue.empty() and len(batch) < most:
            batch.append(self._queue.get_nowait())
        return batch

    async def _commit_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            batch += self._drain(self.max_batch - 1)
            await self._commit(batch)
            s = self.stats
            if s.latest is not None and (s.refreshed_to is None or s.latest > s.refreshed_to):
                self._fresh.set()  # the events loop refreshes when its interval allows

    def refresh_interval(self) -> float:
        """Seconds from the end of one refresh to the start of the next."""
        return max(self.events_every, REFRESH_SHARE * self._refresh_seconds)

    async def _commit(self, batch: Sequence[_Pending]) -> None:
        docs = [p.doc for p in batch]
        started = time.perf_counter()
        try:
            report: IngestReport = await self.run_on_writer(
                lambda: ingest_documents(self.store, docs, fingerprints=self.fingerprints)
            )
        except BlockwatchError as exc:
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(SubmissionError(503, f"not stored: {exc}"))
            return
        self.stats.last_commit_seconds = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.accepted += report.added
        self.stats.duplicates += report.duplicates
        bad = {err.line: err.reason for err in report.errors if err.line is not None}
        for index, p in enumerate(batch, start=1):
            if p.future.done():
                continue  # the client went away
            # A failed analysis keeps the measurement (stored, no verdict): that is an ack.
            if index in bad and not bad[index].startswith("analysis failed"):
                p.future.set_exception(SubmissionError(400, bad[index]))
            else:
                p.future.set_result(None)
                self._touch(p.doc)

    def _touch(self, doc: dict[str, Any]) -> None:
        try:
            when = parse_time(doc.get("measurement_start_time"))
        except MalformedMeasurement:
            return
        cc = str(doc.get("probe_cc", "")).upper()
        dirty = self.stats.dirty
        dirty[cc] = min(dirty.get(cc, when), when)
        self.stats.latest = max(self.stats.latest or when, when)

    async def _events_loop(self) -> None:
        # Fresh data is refreshed for as soon as the interval allows; countries touched by
        # commits of late data only still get their recompute, within a few intervals.
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fresh.wait(), max(self.events_every, 1.0))
            if self._stopping:
                return
            self._fresh.clear()
            wait = self._last_refresh + self.refresh_interval() - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # what commits meanwhile joins this refresh
            await self.refresh_now()

    async def refresh_now(self) -> list[Event]:
        """Recompute the events of the countries committed to since the last refresh; returns
        once they are stored (concurrent callers wait for the one running, then for their
        own if more was committed meanwhile)."""
        async with self._refreshing:
            dirty, self.stats.dirty = self.stats.dirty, {}
            if not dirty:
                self._last_refresh = time.monotonic()
                return []
            started = time.monotonic()
            s = self.stats
            latest = s.latest  # what this refresh is decided on (commits go on meanwhile)
            if latest is not None and (s.refreshed_to is None or latest > s.refreshed_to):
                # The data before this round: what a change must show to be alerted at once.
                s.settled_to = s.refreshed_to
            s.refreshed_to = latest
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(
                self._detector, lambda: detect_country_events(self.store, dirty)
            )
            await self.run_on_writer(lambda: store_country_events(self.store, found))
            events = [e for detected in found.values() for e in detected]
            s.refreshes += 1
            self._last_refresh = time.monotonic()
            self._refresh_seconds = self._last_refresh - started
            if self.on_events is not None:
                self.on_events(events, min(dirty.values()), latest, s.settled_to)
            return events
