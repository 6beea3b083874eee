"""The collector's HTTP routes (bk-003): ``/report``, ``/report/{id}``, ``/report/{id}/close``
and ``/measurement``; refusals are JSON ``{"error": ...}`` with a 4xx (or 503) status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from blockwatch.collector.limits import read_json
from blockwatch.collector.service import Collector
from blockwatch.errors import SubmissionError
from blockwatch.times import iso_z

__all__ = ["collector_router", "install_error_handler"]


def collector_router(collector: Collector) -> APIRouter:
    router = APIRouter(tags=["collector"])

    async def body_of(request: Request, allow_empty: bool = False) -> Any:
        collector.rate.check(request.client.host if request.client else "-")
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await read_json(headers, request.stream(), collector.limits.max_body, allow_empty)

    @router.post("/report")
    async def open_report(request: Request) -> JSONResponse:
        return JSONResponse(collector.open(await body_of(request)))

    @router.post("/report/{report_id}")
    async def update_report(report_id: str, request: Request) -> JSONResponse:
        return JSONResponse(await collector.update(report_id, await body_of(request)))

    @router.post("/report/{report_id}/close")
    async def close_report(report_id: str, request: Request) -> JSONResponse:
        await body_of(request, allow_empty=True)
        return JSONResponse(collector.close(report_id))

    @router.post("/measurement")
    async def single_measurement(request: Request) -> JSONResponse:
        return JSONResponse(await collector.single(await body_of(request)))

    @router.post("/api/collector/settle")
    async def settle(request: Request) -> JSONResponse:
        """Bring the events up to what is committed now (a probe's clock tick in the lab;
        cheap when nothing new came in)."""
        collector.rate.check(request.client.host if request.client else "-")
        await collector.committer.refresh_now()
        return JSONResponse({"events_as_of": iso_z(collector.committer.stats.refreshed_to)})

    @router.get("/api/collector/status")
    async def status() -> JSONResponse:
        s = collector.committer.stats
        return JSONResponse(
            {
                "batches": s.batches,
                "accepted": s.accepted,
                "duplicates": s.duplicates,
                "event_refreshes": s.refreshes,
                "last_commit_seconds": round(s.last_commit_seconds, 4),
                # Events (and alerts) are decided on data up to this measurement time.
                "events_as_of": iso_z(s.refreshed_to),
            }
        )

    return router


def install_error_handler(app: FastAPI) -> None:
    @app.exception_handler(SubmissionError)
    async def _refused(_request: Request, exc: SubmissionError) -> JSONResponse:
        return JSONResponse({"error": exc.reason}, status_code=exc.status)
