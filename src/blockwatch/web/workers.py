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
import pickle
import socket
import struct
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

from starlette.routing import BaseRoute, Match

from blockwatch.analysis.services import ServiceTable
from blockwatch.asn_names import open_asn_db
from blockwatch.errors import BlockwatchError
from blockwatch.store import Reads, Store
from blockwatch.store.remote import RemoteAddress, RemoteStore
from blockwatch.web.cache import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "RENDER_TIMEOUT_S",
    "Delegate",
    "RenderLane",
    "Source",
    "WorkerFailed",
    "default_page_workers",
    "exit_with",
    "open_reads",
    "route_matcher",
]

RENDER_TIMEOUT_S: Final = 120.0
RETRY_AFTER_S: Final = 5
_LENGTH: Final = struct.Struct("!Q")  # a message's length, before it (workers' sockets)
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
    store: Store | RemoteStore
    if isinstance(source, str):
        store = opened = Store(source, read_only=True)
        opened.use_threads(1)  # one of several processes reading at once
    else:
        store = RemoteStore(source)  # the owner runs its queries
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


def _worker_main(
    sock: socket.socket,
    source: Source,
    services: ServiceTable,
    asn_db: str | None,
    server_pid: int,
) -> None:
    """A page worker: answer each request the server sends until it closes its end."""
    # The dashboard's framework is heavy: only a worker (and the server) imports it.
    from blockwatch.web.app import dashboard_app
    from blockwatch.web.render import compile_templates

    exit_with(server_pid)
    app = dashboard_app(open_reads(source, asn_db), services)
    compile_templates(app.state.templates)
    loop = asyncio.new_event_loop()
    while True:
        try:
            request = pickle.loads(_read_frame(sock))
        except (EOFError, OSError):
            return  # the server closed its end: it is stopping
        sock.sendall(_frame(loop.run_until_complete(_call(app, request))))


def _frame(value: object) -> bytes:
    """A message on a worker's socket: its length, then the pickled value."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _read_frame(sock: socket.socket) -> bytes:
    """One message (blocking: the worker's side)."""
    (size,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("the other end closed")
        buf += chunk
    return bytes(buf)


async def _call(app: ASGIApp, request: dict[str, Any]) -> tuple[int, list[Any], bytes]:
    """(status, headers, body) of one GET, answered by the worker's dashboard."""
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

    try:
        await app(scope, receive, send)
    except Exception:
        # The app's error layer sent its 500 page before raising again: that is the answer.
        if not start:
            return 500, [(b"content-type", b"text/plain; charset=utf-8")], b"internal error"
    return int(start.get("status", 500)), list(start.get("headers", [])), b"".join(body)


# --- in the server --------------------------------------------------------------------------


class WorkerFailed(BlockwatchError):
    """A page worker died or did not answer in time (answered 503)."""


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    sock: socket.socket


class RenderLane:
    """``workers`` processes answering page and API requests (see the module doc). Each has
    a pipe of its own, written and awaited from the event loop: no thread of this process
    stands between a request and its worker."""

    def __init__(
        self,
        source: Source,
        services: ServiceTable,
        workers: int = 2,
        asn_db: Path | None = None,
    ) -> None:
        self.workers = workers
        self._args = (source, services, str(asn_db) if asn_db else None, os.getpid())
        self._ctx = multiprocessing.get_context("spawn")  # forking a server is unsafe
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: list[_Worker] = []
        self._closed = False

    def _spawn(self) -> _Worker:
        here, there = socket.socketpair()
        process = self._ctx.Process(
            target=_worker_main, args=(there, *self._args), name="blockwatch-page", daemon=True
        )
        process.start()
        there.close()
        here.setblocking(False)
        worker = _Worker(process, here)
        self._all.append(worker)
        return worker

    def _queue(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.workers):
                self._idle.put_nowait(self._spawn())
        return self._idle

    async def answer(self, scope: Scope) -> tuple[int, list[Any], bytes]:
        """The answer of a worker to this request. A worker that died is replaced and the
        request asked once more; one that does not answer in RENDER_TIMEOUT_S is replaced
        and the request refused (WorkerFailed), as is one whose request was abandoned
        midway (its answer would be read as the next request's)."""
        request = {k: scope[k] for k in _SCOPE_KEYS if k in scope}
        idle = self._queue()
        try:
            worker = await asyncio.wait_for(idle.get(), RENDER_TIMEOUT_S)
        except TimeoutError:
            raise WorkerFailed(f"no page worker free within {RENDER_TIMEOUT_S:.0f} s") from None
        clean = False
        try:
            try:
                answer = await self._ask(worker, request)
            except TimeoutError:  # before OSError: it is one since Python 3.11
                raise WorkerFailed(f"no answer within {RENDER_TIMEOUT_S:.0f} s") from None
            except (EOFError, OSError):
                if self._closed:
                    raise WorkerFailed("the dashboard is stopping") from None
                worker = self._replace(worker)
                try:
                    answer = await self._ask(worker, request)
                except TimeoutError:
                    raise WorkerFailed(f"no answer within {RENDER_TIMEOUT_S:.0f} s") from None
                except (EOFError, OSError) as exc:
                    raise WorkerFailed(f"a page worker failed twice: {exc!r}") from exc
            clean = True
            return answer
        finally:
            if not clean and not self._closed:
                worker = self._replace(worker)
            idle.put_nowait(worker)

    async def _ask(self, worker: _Worker, request: dict[str, Any]) -> tuple[int, list[Any], bytes]:
        """Send the request and read the answer as it arrives, from the event loop."""
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_sendall(worker.sock, _frame(request)), RENDER_TIMEOUT_S)
        done: asyncio.Future[bytes] = loop.create_future()
        buf = bytearray()
        fd = worker.sock.fileno()

        def readable() -> None:
            try:
                chunk = worker.sock.recv(1 << 20)
            except BlockingIOError:
                return
            except OSError as exc:
                if not done.done():
                    done.set_exception(exc)
                return
            if not chunk:
                if not done.done():
                    done.set_exception(EOFError("the page worker ended"))
                return
            buf.extend(chunk)
            if len(buf) >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(buf)
                if len(buf) >= _LENGTH.size + size and not done.done():
                    done.set_result(bytes(buf[_LENGTH.size :]))

        loop.add_reader(fd, readable)
        try:
            data = await asyncio.wait_for(done, RENDER_TIMEOUT_S)
        finally:
            loop.remove_reader(fd)
        answer: tuple[int, list[Any], bytes] = pickle.loads(data)
        return answer

    def _replace(self, worker: _Worker) -> _Worker:
        self._stop(worker)
        return self._spawn()

    def _stop(self, worker: _Worker) -> None:
        worker.sock.close()
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(1.0)
        if worker.process.is_alive():  # stopped, or ignoring SIGTERM
            worker.process.kill()
        worker.process.join(1.0)
        if worker in self._all:
            self._all.remove(worker)

    async def warm(self) -> None:
        """Start the worker processes now rather than on the first request."""
        self._queue()

    def close(self) -> None:
        self._closed = True
        for worker in list(self._all):
            worker.sock.close()  # an idle worker ends at once
        for worker in list(self._all):
            worker.process.join(1.0)
            self._stop(worker)


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
        try:
            status, headers, body = await self.lane.answer(scope)
        except WorkerFailed as exc:
            status, body = 503, f"busy: {exc}; try again in {RETRY_AFTER_S} s".encode()
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"retry-after", str(RETRY_AFTER_S).encode()),
            ]
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
