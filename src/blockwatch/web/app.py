"""The dashboard's FastAPI application: pages, JSON API, CSV export, evidence reports.

``build_app(db_path)`` opens the store read-only and wires the routes (``pages.py`` for HTML,
``api.py`` for JSON/CSV); ``serve(db_path, host, port)`` runs it under uvicorn. Nothing is
loaded from outside: the stylesheet is shipped in ``static/``, charts are inline SVG, and
the pages carry no script at all. A strict Content-Security-Policy backs that up, so even a
blockpage body that slipped through escaping could not run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from blockwatch import __version__
from blockwatch.errors import BlockwatchError, StoreError
from blockwatch.web.filters import FilterError
from blockwatch.web.queries import Queries
from blockwatch.web.views import NotFound

STATIC_DIR = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'"
)


def _default(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, bytes):
        return None
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(data: Any) -> bytes:
    """Our JSON: naive times are UTC and get a Z offset; keys as given."""
    try:
        return orjson.dumps(
            data, default=_default, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
        )
    except orjson.JSONEncodeError:
        # orjson writes 254 levels at most; a stored measurement may be deeper (it reads 1024).
        text = json.dumps(data, default=_json_default, ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return _default(value)


class JSON(JSONResponse):
    """A JSON response through orjson (datetimes, nested charts)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def fmt_time(value: Any, with_time: bool = True) -> str:
    if value is None:
        return "ongoing"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")
    return str(value)


def make_templates() -> Environment:
    """The Jinja2 environment; autoescape is on for every template (measured data is
    untrusted), and only our own SVG strings are marked safe, after escaping in charts.py."""
    env = Environment(
        loader=PackageLoader("blockwatch.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["t"] = fmt_time
    env.filters["pct"] = lambda v: "" if v is None else f"{float(v):.0%}"
    env.globals["version"] = __version__
    return env


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def build_app(db_path: str | Path) -> FastAPI:
    """The dashboard over the store at ``db_path``, opened read-only."""
    from blockwatch.web import api, pages

    queries = Queries(Path(db_path))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        queries.close()

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
    app.state.queries = queries
    app.state.templates = make_templates()
    app.state.db_path = Path(db_path)

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


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the dashboard until interrupted."""
    import uvicorn

    app = build_app(db_path)
    uvicorn.run(app, host=host, port=port, log_level="warning")
