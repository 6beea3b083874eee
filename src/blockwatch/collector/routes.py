"""The collector's HTTP routes. The probes' routes (bk-003: ``POST /report``,
``/report/{id}``, ``/report/{id}/close`` and ``/measurement``) are answered by
:class:`CollectorEndpoints`, plain ASGI in front of the web framework: a submission is a small
request, and the framework's routing over every dashboard route and its middleware cost more
than checking the measurement. Refusals are JSON ``{"error": ...}`` with a 4xx (or 503)
status. The observatory's own routes (status, settle) are an ordinary router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from blockwatch.collector.limits import read_json
from blockwatch.collector.service import Collector
from blockwatch.errors import SubmissionError
from blockwatch.times import iso_z

__all__ = ["CollectorEndpoints", "collector_router", "install_error_handler"]

# The ASGI interface, spelled here (the web package has the same names; the collector does
# not import it).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def probe_route(method: str, path: str) -> tuple[str, str] | None:
    """(what, report id) of a probe's request, or None for any other request."""
    if path == "/api/collector/status" and method in ("GET", "HEAD"):
        return "status", ""
    if method != "POST":
        return None
    if path in ("/report", "/measurement"):
        return path[1:], ""
    parts = path.split("/")  # "", "report", id[, "close"]
    if len(parts) == 3 and parts[1] == "report" and parts[2]:
        return "update", parts[2]
    if len(parts) == 4 and parts[1] == "report" and parts[2] and parts[3] == "close":
        return "close", parts[2]
    return None


class CollectorEndpoints:
    """ASGI middleware answering the probes' routes; every other request goes to ``app``."""

    def __init__(self, app: ASGIApp, collector: Collector) -> None:
        self.app = app
        self.collector = collector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = probe_route(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        try:
            status, answer = 200, await self._answer(route, scope, receive)
        except SubmissionError as exc:
            status, answer = exc.status, {"error": exc.reason}
        body = orjson.dumps(answer)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _answer(self, route: tuple[str, str], scope: Scope, receive: Receive) -> Any:
        what, report_id = route
        c = self.collector
        if what == "status":
            # Here, before the dashboard's answer cache: the counters change without the
            # store file changing (a refresh that finds the same events writes nothing).
            return status_of(c)
        client = scope.get("client")
        c.rate.check(str(client[0]) if client else "-")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await read_json(headers, _chunks(receive), c.limits.max_body, what == "close")
        if what == "report":
            return await c.open(body)
        if what == "update":
            return await c.update(report_id, body)
        if what == "close":
            return await c.close(report_id)
        return await c.single(body)


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise SubmissionError(400, "the client went away before the body was sent")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def collector_router(collector: Collector) -> APIRouter:
    router = APIRouter(tags=["collector"])

    @router.post("/api/collector/settle")
    async def settle(request: Request) -> JSONResponse:
        """Bring the events up to what is committed now (a probe's clock tick in the lab;
        cheap when nothing new came in)."""
        collector.rate.check(request.client.host if request.client else "-")
        await collector.committer.refresh_now()
        return JSONResponse({"events_as_of": iso_z(collector.committer.stats.refreshed_to)})

    return router


def status_of(collector: Collector) -> dict[str, Any]:
    s = collector.committer.stats
    return {
        "batches": s.batches,
        "accepted": s.accepted,
        "duplicates": s.duplicates,
        "event_refreshes": s.refreshes,
        "last_commit_seconds": round(s.last_commit_seconds, 4),
        # Events (and alerts) are decided on data up to this measurement time.
        "events_as_of": iso_z(s.refreshed_to),
    }


def install_error_handler(app: FastAPI) -> None:
    @app.exception_handler(SubmissionError)
    async def _refused(_request: Request, exc: SubmissionError) -> JSONResponse:
        return JSONResponse({"error": exc.reason}, status_code=exc.status)
