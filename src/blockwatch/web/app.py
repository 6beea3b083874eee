"""The dashboard's FastAPI application: pages, JSON API, CSV export, evidence reports.

``build_app(db)`` opens the store read-only (or reads an owner's open Store) and wires the routes
(``pages.py`` for HTML, ``api.py`` for JSON/CSV); ``serve(app, host, port)`` runs it under
uvicorn; ``blockwatch serve`` composes it with the collector and the feeds. Nothing is
loaded from outside: the stylesheet is shipped in ``static/``, charts are inline SVG, and
the pages carry no script at all. A strict Content-Security-Policy backs that up, so even a
blockpage body that slipped through escaping could not run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from blockwatch import __version__
from blockwatch.analysis.services import ServiceTable
from blockwatch.config import services_path
from blockwatch.errors import BlockwatchError, FilterError, StoreError
from blockwatch.store import Reads, Store
from blockwatch.web import api, pages
from blockwatch.web.api import JSON
from blockwatch.web.render import make_templates
from blockwatch.web.views import NotFound

__all__ = ["build_app", "serve"]

STATIC_DIR = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'"
)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_app(
    db: str | Path | Store,
    lifespan: Lifespan | None = None,
    services: str | Path | ServiceTable | None = None,
) -> FastAPI:
    """The dashboard over the store at ``db`` (a path: opened read-only, and closed with the
    app), or over an open Store whose owner serves it (its readers are cursors of the owner's
    connection: DuckDB refuses a second connection in another mode in one process).
    ``lifespan``: what the composing server runs around the dashboard's life. ``services``:
    the services table (a path; default BLOCKWATCH_SERVICES, else the shipped one)."""
    table = _service_table(services)
    owned = not isinstance(db, Store)
    store = Store(db, read_only=True) if not isinstance(db, Store) else db

    @asynccontextmanager
    async def lifespan_all(app: FastAPI) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            if owned:
                store.close()

    app = FastAPI(
        lifespan=lifespan_all,
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
    app.state.reads = Reads(store)
    app.state.services = table
    app.state.templates = make_templates(app.state.reads.network_name)

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

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

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Response:
        return _error(request, 500, "store error", str(exc))

    @app.exception_handler(BlockwatchError)
    async def _other(request: Request, exc: BlockwatchError) -> Response:
        return _error(request, 500, "error", str(exc))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    return app


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
