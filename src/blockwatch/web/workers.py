"""Pages and API answers built in worker processes, so the serving process stays free.

Building an answer is Python work (rows to dicts, charts, templates) that holds the interpreter
lock. Built in threads of the serving process, it took turns with the event loop that answers
everyone else, so a burst of first visits slowed every kept answer too and used one core of
the machine. A ``RenderLane`` hands each page or API request the answer cache did not hold to
one of ``workers`` processes, each running the dashboard's own routes over its own ``Reads``:
the store opened read-only by the worker itself, or, when the server owns and writes the store
(which no other process may then open), read through the owner's QueryService
(store.remote), so DuckDB runs the query in the owner and the worker does the rest.

The serving process keeps the event loop, the answer cache, the collector, CSV streams and
report jobs (heavy.py: their workers read the same way). ``Delegate`` is the ASGI layer that
decides: a GET of a dashboard page or API route goes to the lane, anything else stays here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

from starlette.routing import BaseRoute, Match

from blockwatch.analysis.services import ServiceTable
from blockwatch.asn_names import open_asn_db
from blockwatch.store import Reads, Store
from blockwatch.store.remote import RemoteAddress, RemoteStore
from blockwatch.web.cache import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "RENDER_TIMEOUT_S",
    "Delegate",
    "RenderLane",
    "Source",
    "default_page_workers",
    "exit_with",
    "open_reads",
    "route_matcher",
]

RENDER_TIMEOUT_S: Final = 120.0
MAX_DEFAULT_WORKERS: Final = 4
# What a worker reads: a store file it opens read-only, or the owner's QueryService.
Source = str | RemoteAddress
# The parts of a request's ASGI scope a worker needs to answer it as this process would.
_SCOPE_KEYS: Final = (
    "type",
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "root_path",
    "query_string",
    "headers",
    "client",
    "server",
)


def default_page_workers(cores: int | None = None) -> int:
    """Page workers for a machine of ``cores`` (this one's by default): the cores beyond two,
    at most MAX_DEFAULT_WORKERS. A worker costs CPU the serving process does not spend (the
    rows cross a socket, each process runs the routes' framework): with two cores, the serving
    process, DuckDB's threads and the report workers already use both (bench/web_latency.py)."""
    n = (os.cpu_count() or 1) if cores is None else cores
    return max(0, min(MAX_DEFAULT_WORKERS, n - 2))


def open_reads(source: Source, asn_db: str | None) -> Reads:
    """A worker's reads: of the store file (read-only), or through its owner."""
    store = Store(source, read_only=True) if isinstance(source, str) else RemoteStore(source)
    reads = Reads(store)
    if asn_db is not None:
        reads.use_names(open_asn_db(asn_db).name)
    return reads


def exit_with(server_pid: int) -> None:
    """End this worker when the server is gone, however it ended (a killed server leaves
    its workers to init, and they would wait for work forever)."""

    def watch() -> None:
        while os.getppid() == server_pid:
            threading.Event().wait(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


# --- in the worker processes ----------------------------------------------------------------

_app: ASGIApp | None = None
_loop: asyncio.AbstractEventLoop | None = None


def _worker_start(
    source: Source, services: ServiceTable, asn_db: str | None, server_pid: int
) -> None:
    global _app, _loop
    # The dashboard's framework is heavy: only a worker (and the server) imports it.
    from blockwatch.web.app import dashboard_app

    exit_with(server_pid)
    app = dashboard_app(open_reads(source, asn_db), services)
    # Compiled now, not by the first requests (compiling a page costs more than rendering it).
    env = app.state.templates
    for name in env.list_templates():
        env.get_template(name)
    _app = app
    _loop = asyncio.new_event_loop()


def _render(request: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of one GET, answered by the worker's dashboard."""
    assert _app is not None and _loop is not None, "worker not started"
    return _loop.run_until_complete(_call(_app, request))


async def _call(app: ASGIApp, request: dict[str, Any]) -> tuple[int, list[Any], bytes]:
    scope: Scope = {**request, "asgi": {"version": "3.0"}, "state": {}}
    start: Message = {}
    body: list[bytes] = []
    asked = False

    async def receive() -> Message:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}  # the request is whole: nothing more will come

    async def send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return int(start.get("status", 500)), list(start.get("headers", [])), b"".join(body)


# --- in the server --------------------------------------------------------------------------


class RenderLane:
    """``workers`` processes answering page and API requests (see the module doc)."""

    def __init__(
        self,
        source: Source,
        services: ServiceTable,
        workers: int = 2,
        asn_db: Path | None = None,
    ) -> None:
        self.workers = workers
        self._initargs = (source, services, str(asn_db) if asn_db else None, os.getpid())
        self._pool = self._new_pool()
        self._closed = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            # A fresh interpreter: forking a server that holds a DuckDB connection and threads
            # is unsafe.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=self._initargs,
        )

    async def answer(self, scope: Scope) -> tuple[int, list[Any], bytes]:
        """The answer of a worker to this request; a worker that died is replaced and the
        request asked once more."""
        request = {k: scope[k] for k in _SCOPE_KEYS if k in scope}
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._pool
            try:
                return await asyncio.wait_for(
                    loop.run_in_executor(pool, _render, request), RENDER_TIMEOUT_S
                )
            except BrokenExecutor:
                if self._closed or attempt == 2:
                    raise
                if pool is self._pool:  # not already replaced by another request
                    self._pool = self._new_pool()
        raise AssertionError("unreachable")

    async def warm(self) -> None:
        """Start the worker processes now rather than on the first request."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._pool, os.getpid) for _ in range(self.workers))
        )

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


class Delegate:
    """ASGI middleware: GETs of the routes ``delegated(scope)`` names go to the RenderLane."""

    def __init__(self, app: ASGIApp, lane: RenderLane, delegated: Callable[[Scope], bool]) -> None:
        self.app = app
        self.lane = lane
        self.delegated = delegated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.delegated(scope):
            await self.app(scope, receive, send)
            return
        status, headers, body = await self.lane.answer(scope)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def route_matcher(
    routes: Sequence[BaseRoute], served_here: Collection[Callable[..., Any]]
) -> Callable[[Scope], bool]:
    """Whether a request goes to the workers: the first of ``routes`` (the dashboard's, in
    the order the app includes them) that matches it, as the router picks one, is not one
    of ``served_here``. A path no dashboard route matches stays here."""
    stay = set(served_here)

    def delegated(scope: Scope) -> bool:
        for route in routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "endpoint", None) not in stay
        return False

    return delegated
