"""The heavy routes (evidence reports, their PDFs, CSV exports), kept from stalling the rest.

Reports are built in a pool of worker processes (``HeavyLane``): each opens the store
read-only itself and runs at the lowest CPU priority (nice 19), so a report being rendered never
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
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from blockwatch.asn_names import open_asn_db
from blockwatch.errors import BlockwatchError, FilterError
from blockwatch.store import Filter, Reads, Store
from blockwatch.web import report
from blockwatch.web.views import NotFound

__all__ = [
    "KEEP_JOBS",
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


def _worker_start(db_path: str, server_pid: int, asn_db: str | None = None) -> None:
    global _reads
    os.nice(WORKER_NICE)
    # Stopped by the server (HeavyLane.close): unwind, so a chromium being waited for is
    # killed and its temporary folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _reads = Reads(Store(db_path, read_only=True))
    if asn_db is not None:
        _reads.use_names(open_asn_db(asn_db).name)
    threading.Thread(target=_exit_with, args=(server_pid,), daemon=True).start()


def _exit_with(server_pid: int) -> None:
    """End this worker when the server is gone, however it ended (a killed server leaves
    its workers to init, and they would wait for work forever)."""
    while os.getppid() == server_pid:
        time.sleep(1.0)
    os._exit(0)


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


def _pdf_job(event_id: str | None, scope: Filter | None) -> tuple[str, Any]:
    def build(r: Reads) -> tuple[str, bytes]:
        doc = report.build(r, event_id=event_id, scope=scope)
        return doc.slug, report.html_to_pdf(doc.html)

    return _outcome(build)


# --- in the server --------------------------------------------------------------------------


class HeavyLane:
    """Reports built in ``workers`` processes of their own, ``queue`` more waiting. Over a
    store this process owns and writes (``reads`` given: `blockwatch serve`), no other
    process may open the file, so the workers are threads reading through ``reads``."""

    def __init__(
        self,
        db_path: Path,
        workers: int = 2,
        queue: int = 8,
        reads: Reads | None = None,
        asn_db: Path | None = None,
    ) -> None:
        global _reads
        self.workers = workers
        self.queue = queue
        self._active = 0
        self._pool: Executor
        if reads is not None:
            _reads = reads  # the jobs read through it (thread-safe: a cursor per thread)
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="blockwatch-report")
            return
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            # A fresh interpreter: forking a server that holds a DuckDB connection and threads
            # is unsafe.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(str(db_path), os.getpid(), str(asn_db) if asn_db else None),
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
        try:
            status, value = await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._active -= 1
        if status == "error":
            raise JobFailed(*value)
        return value

    async def report_html(self, event_id: str | None, scope: Filter | None) -> tuple[str, str]:
        """(slug, HTML) of the evidence report on an event or a scope."""
        result: tuple[str, str] = await self._run("reports", _html_job, event_id, scope)
        return result

    async def report_pdf(self, event_id: str | None, scope: Filter | None) -> tuple[str, bytes]:
        result: tuple[str, bytes] = await self._run("reports", _pdf_job, event_id, scope)
        return result

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
        for child in multiprocessing.active_children():  # the server starts no others
            child.join(max(0.0, deadline - time.monotonic()))  # an idle one ends by itself
            if child.is_alive():
                child.terminate()
                child.join(1.0)


class CsvLane:
    """CSV exports: each batch read and written in threads of their own, at most ``streams``
    exports at once, so exports never take the threads that pages run in."""

    def __init__(self, streams: int = 4) -> None:
        self.streams = streams
        self._active = 0
        self._pool = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="blockwatch-csv")

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

    async def stream(self, chunks: Iterator[str]) -> AsyncIterator[str]:
        """The chunks of an admitted export; frees its place when done or abandoned."""
        try:
            while (chunk := await self.call(next, chunks, None)) is not None:
                yield chunk
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
