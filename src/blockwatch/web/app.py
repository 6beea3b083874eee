"""The dashboard's FastAPI application: pages, JSON API, CSV export, evidence reports.

``build_app(db)`` opens the store read-only (or reads an owner's open Store) and wires the routes
(``pages.py`` for HTML, ``api.py`` for JSON/CSV); ``serve(app, host, port)`` runs it under
uvicorn; ``blockwatch serve`` composes it with the collector and the feeds. Nothing is
loaded from outside: the stylesheet is shipped in ``static/``, charts are inline SVG, and
the pages carry no script at all. A strict Content-Security-Policy backs that up, so even a
blockpage body that slipped through escaping could not run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from blockwatch import __version__
from blockwatch.analysis.services import ServiceTable
from blockwatch.asn_names import open_asn_db
from blockwatch.config import services_path
from blockwatch.errors import BlockwatchError, FilterError, StoreError
from blockwatch.store import Reads, Store
from blockwatch.store.remote import QueryService
from blockwatch.web import api, pages
from blockwatch.web.api import JSON
from blockwatch.web.cache import (
    DEFAULT_MAX_BYTES,
    ASGIApp,
    Message,
    Receive,
    ResponseCache,
    Scope,
    Send,
)
from blockwatch.web.heavy import RETRY_AFTER_S, Busy, CsvLane, HeavyLane, JobFailed, PdfJobs
from blockwatch.web.render import compile_templates, make_templates
from blockwatch.web.views import NotFound
from blockwatch.web.workers import Delegate, RenderLane, Source, route_matcher

__all__ = ["build_app", "dashboard_app", "serve"]

STATIC_DIR = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'"
)


class HeadAsGet:
    """HEAD answered wherever GET is, as GET without the body (RFC 9110 asks a server to;
    link checkers and crawlers send it). The server sends only the headers for a HEAD."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_app(
    db: str | Path | Store,
    lifespan: Lifespan | None = None,
    services: str | Path | ServiceTable | None = None,
    *,
    page_workers: int = 0,
    report_workers: int = 2,
    report_queue: int = 8,
    csv_streams: int = 4,
    cache_bytes: int = DEFAULT_MAX_BYTES,
    asn_db: str | Path | None = None,
) -> FastAPI:
    """The dashboard over the store at ``db`` (a path: opened read-only, closed with the app),
    or over an open Store whose owner serves it (its other processes then read through the
    owner: store.remote). ``lifespan``: the composing server's work around the dashboard's
    life. Pages and API answers are built by ``page_workers`` processes (0: in this one;
    workers.py), reports by ``report_workers`` processes with ``report_queue`` more waiting; at
    most ``csv_streams`` CSV exports run at once (heavy.py); ``cache_bytes`` of answers are
    kept (0: none). ``services``: see ``_service_table``. ``asn_db``: an ASN database naming the
    networks no measurement named (asn_names)."""
    table = _service_table(services)
    owned = not isinstance(db, Store)
    store = Store(db, read_only=True) if not isinstance(db, Store) else db
    reads = Reads(store)
    # Of the memory for answers, a quarter keeps the rows they were built from (kept.py).
    reads.keep_results(cache_bytes // 4)
    names = open_asn_db(asn_db) if asn_db is not None else None
    if names is not None:
        reads.use_names(names.name)
    names_path = names.path if names is not None else None
    # Other processes cannot open a store this one writes: they read through it.
    queries = None if store.read_only else QueryService(store)
    source: Source = str(store.path) if queries is None else queries.address
    lane = HeavyLane(source, report_workers, report_queue, asn_db=names_path, db_path=store.path)
    csv_lane = CsvLane(csv_streams, db_path=store.path)
    pages_lane = RenderLane(source, table, page_workers, names_path) if page_workers else None

    @asynccontextmanager
    async def lifespan_all(app: FastAPI) -> AsyncIterator[None]:
        warming = [asyncio.create_task(x.warm()) for x in (lane, pages_lane) if x is not None]
        for task in warming:
            task.add_done_callback(_warmed)
        await asyncio.to_thread(compile_templates, app.state.templates)
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    try:
                        yield
                    finally:  # the workers go before the owner closes the store
                        _stop(warming, pages_lane, lane, csv_lane, queries)
        finally:
            _stop(warming, pages_lane, lane, csv_lane, queries)
            if names is not None:
                names.close()
            if owned:
                store.close()

    app = dashboard_app(reads, table, lifespan_all)
    app.state.heavy = lane
    app.state.csv = csv_lane
    app.state.pdf_jobs = PdfJobs(lane)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if pages_lane is not None:
        app.add_middleware(Delegate, lane=pages_lane, delegated=_delegated())
    app.add_middleware(ResponseCache, db_path=store.path, max_bytes=cache_bytes - cache_bytes // 4)
    app.add_middleware(HeadAsGet)
    return app


def dashboard_app(
    reads: Reads, services: ServiceTable, lifespan: Lifespan | None = None
) -> FastAPI:
    """The dashboard's routes over ``reads``, with their error pages and security headers:
    what ``build_app`` serves, and what a page worker (workers.py) runs."""
    app = FastAPI(
        lifespan=lifespan,
        title="blockwatch",
        version=__version__,
        description="Censorship measurements, verdicts and events from a blockwatch store.",
        # The stock /docs pages load scripts from a CDN: the dashboard ships everything
        # itself, so they are off; the schema itself is served.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        default_response_class=JSON,
    )
    app.state.reads = reads
    app.state.services = services
    app.state.templates = make_templates(reads.network_name)
    app.add_middleware(SecurityHeaders)
    _handle_errors(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    return app


# Routes answered by this process even with page workers: reports and PDFs (jobs of their
# own lane), CSV exports (streamed), and a static file.
_SERVED_HERE: Final[frozenset[Callable[..., Any]]] = frozenset(
    {pages.event_report, pages.scope_report, pages.favicon, api.verdicts_csv, api.events_csv}
)


def _delegated() -> Callable[[Scope], bool]:
    # The dashboard's routes in the order dashboard_app includes them; the app's own routes
    # (the OpenAPI schema) and the composing server's (collector, feeds) match no path of
    # theirs, so those requests stay here.
    return route_matcher([*api.router.routes, *pages.router.routes], _SERVED_HERE)


def _warmed(task: asyncio.Task[None]) -> None:
    """Say why workers failed to start (their first requests will say it too)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        logging.getLogger("blockwatch.web").warning("workers failed to start: %r", exc)


def _stop(
    warming: list[asyncio.Task[None]],
    pages_lane: RenderLane | None,
    lane: HeavyLane,
    csv_lane: CsvLane,
    queries: QueryService | None,
) -> None:
    """Stop the lanes' workers, then the owner's query service (twice is harmless)."""
    for task in warming:
        task.cancel()
    if pages_lane is not None:
        pages_lane.close()
    lane.close()
    csv_lane.close()
    if queries is not None:
        queries.close()


_SECURITY_HEADERS: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_SECURITY_NAMES: Final = frozenset(name for name, _ in _SECURITY_HEADERS)


class SecurityHeaders:
    """Every answer says: no scripts or styles from elsewhere, no sniffing, no referrer.
    (Plain ASGI: Starlette's ``@app.middleware("http")`` runs each request through a task
    and streams of its own, which took a tenth of the serving process's interpreter time
    under bench/web_latency.py's load.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in _SECURITY_NAMES
                ]
                message = {**message, "headers": [*kept, *_SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _handle_errors(app: FastAPI) -> None:
    """Our errors as answers: JSON under /api/, an HTML page elsewhere."""

    def _error(request: Request, status: int, title: str, message: str) -> Response:
        if wants_json(request):
            return JSON({"error": title, "detail": message}, status_code=status)
        html = app.state.templates.get_template("error.html").render(
            title=title, message=message, status=status, qs="", filterable=False
        )
        return HTMLResponse(html, status_code=status)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, "not found", str(exc))

    @app.exception_handler(FilterError)
    async def _bad_filter(request: Request, exc: FilterError) -> Response:
        return _error(request, 400, "bad filter", str(exc))

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> Response:
        response = _error(request, 503, "busy", str(exc))
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.exception_handler(JobFailed)
    async def _job_failed(request: Request, exc: JobFailed) -> Response:
        return _error(request, exc.status, exc.title, str(exc))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Response:
        return _error(request, 500, "store error", str(exc))

    @app.exception_handler(BlockwatchError)
    async def _other(request: Request, exc: BlockwatchError) -> Response:
        return _error(request, 500, "error", str(exc))


def _service_table(services: str | Path | ServiceTable | None) -> ServiceTable:
    """The services table: as given, else read from its path or BLOCKWATCH_SERVICES, else the
    shipped one."""
    if isinstance(services, ServiceTable):
        return services
    return ServiceTable.load(services or services_path())


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run a dashboard (``build_app``) under uvicorn until interrupted."""
    import uvicorn  # only serving needs the ASGI server: importing blockwatch.web stays light

    uvicorn.run(app, host=host, port=port, log_level="warning")
