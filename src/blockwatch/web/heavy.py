"""The heavy routes (evidence reports, their PDFs, CSV exports), kept from stalling the rest.

Reports are built in a pool of worker processes (``HeavyLane``): each opens the store
read-only itself, or reads it through the server that owns it (store.remote), and runs at
the lowest CPU priority (nice 19), so a report being rendered never
holds the interpreter lock of the process serving pages, and pages win the CPU when both want
it; chromium, started from a worker for a PDF, inherits that priority. At most ``workers``
reports are built at once and ``queue`` more wait their turn; a request beyond that gets
HTTP 503 with ``Retry-After`` (busy, not broken). CSV exports stream from the serving
process, each batch read in threads of their own (``CsvLane``, at most ``streams`` exports
at once; beyond that, 503 too).

A PDF is a job (``PdfJobs``): the first request starts it and gets a page that refreshes
itself every few seconds; once the PDF is ready the same address serves it. Finished PDFs are
kept ``KEEP_SECONDS`` (at most ``KEEP_JOBS``), so a reader who comes back gets it at once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from blockwatch.errors import BlockwatchError, FilterError
from blockwatch.store import Filter, Reads
from blockwatch.store.kept import KeptByState, State
from blockwatch.store.remote import THREAD_NICE, lower_thread_priority
from blockwatch.web import report
from blockwatch.web.views import NotFound
from blockwatch.web.workers import Source, exit_with, open_reads

__all__ = [
    "KEEP_CSV_BYTES",
    "KEEP_JOBS",
    "KEEP_REPORTS",
    "KEEP_REPORT_BYTES",
    "KEEP_SECONDS",
    "RETRY_AFTER_S",
    "Busy",
    "CsvLane",
    "HeavyLane",
    "JobFailed",
    "PdfJob",
    "PdfJobs",
]

KEEP_SECONDS: Final = 600.0
KEEP_JOBS: Final = 16
KEEP_REPORTS: Final = 32
KEEP_REPORT_BYTES: Final = 64 * 1024 * 1024
KEEP_CSV_BYTES: Final = 32 * 1024 * 1024
WORKER_NICE: Final = 19
RETRY_AFTER_S: Final = 5
T = TypeVar("T")


class Busy(BlockwatchError):
    """Every heavy slot and queue place is taken: answered 503 with Retry-After."""

    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        super().__init__(
            f"the dashboard is building {limit} {what} already; try again in {RETRY_AFTER_S} s"
        )


class JobFailed(BlockwatchError):
    """A report job failed in its worker; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, title: str, message: str) -> None:
        self.status = status
        self.title = title
        super().__init__(message)


# --- in the worker processes ----------------------------------------------------------------

_reads: Reads | None = None


def _worker_start(source: Source, server_pid: int, asn_db: str | None = None) -> None:
    global _reads
    os.nice(WORKER_NICE)
    # Stopped by the server (HeavyLane.close): unwind, so a chromium being waited for is
    # killed and its temporary folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _reads = open_reads(source, asn_db)
    exit_with(server_pid)


def _outcome(build: Callable[[Reads], T]) -> tuple[str, Any]:
    """("ok", value) or ("error", (status, title, message)): our exceptions carry arguments
    pickle cannot rebuild, so a failure crosses back to the server as plain data."""
    assert _reads is not None, "worker not started"
    try:
        return "ok", build(_reads)
    except NotFound as exc:
        return "error", (404, "not found", str(exc))
    except FilterError as exc:
        return "error", (400, "bad filter", str(exc))
    except BlockwatchError as exc:
        return "error", (500, "report error", str(exc))


def _html_job(event_id: str | None, scope: Filter | None) -> tuple[str, Any]:
    def build(r: Reads) -> tuple[str, str]:
        doc = report.build(r, event_id=event_id, scope=scope)
        return doc.slug, doc.html

    return _outcome(build)


def _pdf_job(html: str) -> tuple[str, Any]:
    try:
        return "ok", report.html_to_pdf(html)
    except BlockwatchError as exc:
        return "error", (500, "report error", str(exc))


# --- in the server --------------------------------------------------------------------------


class HeavyLane:
    """Reports built in ``workers`` processes of their own, ``queue`` more waiting; the
    workers read ``source`` (workers.Source: the store file, or its owner)."""

    def __init__(
        self,
        source: Source,
        workers: int = 2,
        queue: int = 8,
        asn_db: Path | None = None,
        db_path: Path | None = None,
    ) -> None:
        self.workers = workers
        self.queue = queue
        self._active = 0
        # Finished reports, kept while the store at ``db_path`` stays as it was.
        self._kept = (
            KeptByState[tuple[str, str]](
                db_path, KEEP_REPORT_BYTES, KEEP_REPORTS, max_value_bytes=KEEP_REPORT_BYTES
            )
            if db_path
            else None
        )
        self._building: dict[Hashable, asyncio.Task[tuple[str, str]]] = {}
        self._initargs = (source, os.getpid(), str(asn_db) if asn_db else None)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            # A fresh interpreter: forking a server that holds a DuckDB connection and threads
            # is unsafe.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=self._initargs,
        )

    @property
    def limit(self) -> int:
        return self.workers + self.queue

    def admit(self, what: str) -> None:
        """Raise Busy when a new job would not fit (checked before anything is started)."""
        if self._active >= self.limit:
            raise Busy(what, self.limit)

    async def _run(self, what: str, fn: Callable[..., tuple[str, Any]], *args: Any) -> Any:
        self.admit(what)
        self._active += 1
        pool = self._pool
        try:
            status, value = await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenExecutor:
            # A worker died (killed, out of memory): the pool is unusable from now on. A new
            # one serves the next request; this one is told to try again.
            if pool is self._pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise Busy(what, self.limit) from None
        finally:
            self._active -= 1
        if status == "error":
            raise JobFailed(*value)
        return value

    async def report_html(self, event_id: str | None, scope: Filter | None) -> tuple[str, str]:
        """(slug, HTML) of the evidence report on an event or a scope. A report is built once
        per state of the store, in a task of its own: readers asking while it is built wait
        for it (one who leaves does not stop it), later ones get it kept (at most
        KEEP_REPORTS and KEEP_REPORT_BYTES, least recently asked first out)."""
        key = (event_id, scope)
        if self._kept is not None and (kept := self._kept.lookup(key)[1]) is not None:
            return kept
        task = self._building.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._build(key, event_id, scope))
            task.add_done_callback(_retrieved)
            self._building[key] = task
        return await asyncio.shield(task)

    async def _build(
        self, key: Hashable, event_id: str | None, scope: Filter | None
    ) -> tuple[str, str]:
        state = self._kept.state() if self._kept is not None else None
        try:
            result: tuple[str, str] = await self._run("reports", _html_job, event_id, scope)
        finally:
            del self._building[key]
        if self._kept is not None and state is not None:  # kept unless the store changed
            self._kept.keep(key, result, len(result[1]), state)
        return result

    async def report_pdf(self, event_id: str | None, scope: Filter | None) -> tuple[str, bytes]:
        """(slug, PDF) of a report: its HTML (kept or built), printed by a worker."""
        slug, html = await self.report_html(event_id, scope)
        pdf: bytes = await self._run("reports", _pdf_job, html)
        return slug, pdf

    async def warm(self) -> None:
        """Start the worker processes now rather than on the first report."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._pool, os.getpid) for _ in range(self.workers))
        )

    def close(self) -> None:
        """Stop the workers now, a report in progress too: the server is going away."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + 3.0
        # The server's other children, the page workers (workers.RenderLane), stop with it.
        for child in multiprocessing.active_children():
            child.join(max(0.0, deadline - time.monotonic()))  # an idle one ends by itself
            if child.is_alive():
                child.terminate()
                child.join(1.0)


def _background() -> None:
    """This thread at a lower CPU priority: an export gives way to the pages built beside it
    (not as low as the report workers: it holds the interpreter lock at times)."""
    lower_thread_priority(THREAD_NICE)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A failure shared with nobody is not logged as never retrieved (the builder raised it)."""
    if not future.cancelled():
        future.exception()


class CsvLane:
    """CSV exports: each batch read and written in threads of their own, at most ``streams``
    exports at once, so exports never take the threads that pages run in. A whole export of
    at most KEEP_CSV_BYTES / 8 is kept while the store at ``db_path`` stays as it was, and
    served again without a query (``kept``)."""

    def __init__(self, streams: int = 4, db_path: Path | None = None) -> None:
        self.streams = streams
        self._active = 0
        self._pool = ThreadPoolExecutor(
            max_workers=streams, thread_name_prefix="blockwatch-csv", initializer=_background
        )
        self._kept = KeptByState[bytes](db_path, KEEP_CSV_BYTES) if db_path else None

    def kept(self, key: Hashable) -> tuple[State | None, bytes | None]:
        """(the store's state, the kept export or None): the state goes to ``stream``."""
        return (None, None) if self._kept is None else self._kept.lookup(key)

    def admit(self) -> None:
        """Take a place for one export (Busy when all are taken); ``stream`` or ``release``
        gives it back."""
        if self._active >= self.streams:
            raise Busy("CSV exports", self.streams)
        self._active += 1

    def release(self) -> None:
        self._active -= 1

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def stream(
        self, chunks: Iterator[str], keep: tuple[Hashable, State | None] | None = None
    ) -> AsyncIterator[str]:
        """The chunks of an admitted export; frees its place when done or abandoned. With
        ``keep`` (key, the state ``kept`` gave): a small export sent whole is kept."""
        whole: list[str] | None = [] if keep is not None and self._kept is not None else None
        size = 0
        try:
            while (chunk := await self.call(next, chunks, None)) is not None:
                if whole is not None:
                    whole.append(chunk)
                    size += len(chunk)
                    if size > KEEP_CSV_BYTES // 8:
                        whole = None
                yield chunk
            if whole is not None and keep is not None and keep[1] is not None and self._kept:
                body = "".join(whole).encode()
                self._kept.keep(keep[0], body, len(body), keep[1])
        finally:
            self.release()
            close = getattr(chunks, "close", None)
            if close is not None:
                await self.call(close)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(slots=True)
class PdfJob:
    started: float
    task: asyncio.Task[tuple[str, bytes]]
    finished: float | None = None

    def finish(self, task: asyncio.Task[tuple[str, bytes]]) -> None:
        self.finished = time.monotonic()
        if not task.cancelled():
            task.exception()  # retrieved here: a failure nobody asks about again is not logged

    @property
    def waited(self) -> float:
        return (self.finished or time.monotonic()) - self.started


@dataclass(slots=True)
class PdfJobs:
    """PDF jobs by what they print: one job per report, however many readers wait for it."""

    lane: HeavyLane
    jobs: dict[Hashable, PdfJob] = field(default_factory=dict)
    _printing: asyncio.Semaphore | None = None

    def get(self, key: Hashable) -> PdfJob | None:
        self._expire()
        job = self.jobs.get(key)
        if job is not None and job.task.done() and job.task.exception() is not None:
            del self.jobs[key]  # a failure is answered once; the next request starts anew
        return job

    def start(self, key: Hashable, event_id: str | None, scope: Filter | None) -> PdfJob:
        unfinished = sum(1 for j in self.jobs.values() if j.finished is None)
        if unfinished >= self.lane.limit:
            raise Busy("PDFs", self.lane.limit)
        self.lane.admit("reports")
        task = asyncio.get_running_loop().create_task(self._print(event_id, scope))
        job = PdfJob(time.monotonic(), task)
        task.add_done_callback(job.finish)
        self.jobs[key] = job
        return job

    async def _print(self, event_id: str | None, scope: Filter | None) -> tuple[str, bytes]:
        # PDFs print one fewer at a time than there are workers, so an HTML report never
        # waits behind a row of PDFs (several seconds each).
        if self._printing is None:
            self._printing = asyncio.Semaphore(max(1, self.lane.workers - 1))
        async with self._printing:
            return await self.lane.report_pdf(event_id, scope)

    def _expire(self) -> None:
        now = time.monotonic()
        done = sorted(
            ((j.finished, k) for k, j in self.jobs.items() if j.finished is not None),
            key=lambda pair: pair[0],
        )
        for i, (finished, key) in enumerate(done):
            if now - finished > KEEP_SECONDS or len(done) - i > KEEP_JOBS:
                del self.jobs[key]
