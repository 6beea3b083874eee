"""The JSON API (each page's data under /api/…) and CSV export of verdicts and events.

The OpenAPI schema is at /api/openapi.json. Every route takes the one filter vocabulary
(web/params.py). CSV streams in batches straight from the store, so an export of any filter,
however large, never sits whole in memory; exports run in a lane of their own (heavy.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from blockwatch.store import Filter, Reads
from blockwatch.store.reads import PAGE_SIZE, RowStream
from blockwatch.times import iso_z
from blockwatch.web import views
from blockwatch.web.answers import MAX_QUESTION, service_answers
from blockwatch.web.heavy import CsvLane
from blockwatch.web.marks import annotation_rows
from blockwatch.web.params import BucketParam, PageParam, filters, reads, time_range
from blockwatch.web.render import dumps

__all__ = ["JSON", "router"]

router = APIRouter(prefix="/api", tags=["api"])
R = Annotated[Reads, Depends(reads)]
F = Annotated[Filter, Depends(filters)]
T = Annotated[Filter, Depends(time_range)]
Opt = Annotated[str | None, Query()]


class JSON(JSONResponse):
    """A JSON response through orjson (datetimes, nested charts)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


@router.get("/overview", summary="Countries and ongoing events")
def api_overview(r: R, f: F) -> JSON:
    return JSON(views.overview(r, f))


@router.get("/services", summary="Services blocked now, or the answer to a question")
def api_services(
    request: Request, r: R, q: Annotated[str | None, Query(max_length=MAX_QUESTION)] = None
) -> JSON:
    """Without ``q``: every service with an ongoing event, in one sentence each; with ``q``
    ("X in PK", "twitter.com", "PK"): the latest episode of each service and country named."""
    return JSON(service_answers(r, request.app.state.services, q))


@router.get("/annotations", summary="Dated context: orders, hearings, elections")
def api_annotations(r: R, country: Opt = None, domain: Opt = None) -> JSON:
    items = r.annotations(country, [domain] if domain else [])
    return JSON({"annotations": annotation_rows(items)})


@router.get("/countries/{cc}", summary="A country: its networks, domains, events")
def api_country(cc: str, r: R, f: T) -> JSON:
    return JSON(views.country(r, cc, f))


@router.get("/countries/{cc}/domains/{domain:path}", summary="A domain's timeline per network")
def api_domain(cc: str, domain: str, r: R, f: T, bucket: BucketParam = None) -> JSON:
    data = views.domain(r, cc, domain, f, bucket)
    data["timeline"] = views.timeline_json(data["timeline"])
    return JSON(data)


@router.get("/networks/{asn:path}", summary="A network (ASN): domains, events, timeline")
def api_network(asn: str, r: R, f: T, bucket: BucketParam = None) -> JSON:
    data = views.network(r, asn, f, bucket)
    data["timeline"] = views.timeline_json(data["timeline"])
    return JSON(data)


@router.get("/events/{event_id:path}", summary="An event: networks, span, methods, measurements")
def api_event(event_id: str, r: R, page: PageParam = 1) -> JSON:
    data = views.event(r, event_id, page)
    data["timeline"] = views.timeline_json(data["timeline"])
    return JSON(data)


@router.get("/measurements/{measurement_id:path}", summary="A measurement: observations, verdicts")
def api_measurement(measurement_id: str, r: R) -> JSON:
    return JSON(views.measurement(r, measurement_id))


@router.get("/events", summary="Events overlapping the range")
def api_events(
    r: R, f: F, kind: Opt = None, limit: Annotated[int, Query(ge=1, le=5000)] = 500
) -> JSON:
    return JSON({"events": r.events(f.replace(kind=kind or None), limit=limit)})


@router.get("/verdicts", summary="Verdicts matching the filter, a page at a time")
def api_verdicts(r: R, f: F, outcome: Opt = None, method: Opt = None, page: PageParam = 1) -> JSON:
    rows = r.verdict_page(f.replace(outcome=outcome or None, method=method or None), page)
    return JSON({"page": page, "page_size": PAGE_SIZE, "verdicts": rows})


CSV_TYPE = "text/csv; charset=utf-8"
# A cell starting with one of these is a formula to a spreadsheet: measured text (a URL, a
# domain) must not become one when a journalist opens the CSV, so it gets a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    elif hasattr(value, "isoformat"):
        return iso_z(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_lines(rows: RowStream) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(rows.columns)
    for batch in rows.batches():
        for row in batch:
            writer.writerow([_csv_cell(v) for v in row])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


async def _csv_export(
    request: Request, query: Callable[[Filter], RowStream], f: Filter, name: str
) -> Response:
    """An export in the CSV lane (heavy.py): kept whole when small, else a place taken first
    (else 503), the query run before the response starts (a failure is a clean error, not a
    cut stream), then streamed."""
    lane: CsvLane = request.app.state.csv
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    key = (request.url.path, request.url.query)
    state, kept = lane.kept(key)
    if kept is not None:
        return Response(kept, media_type=CSV_TYPE, headers=headers)
    lane.admit()
    try:
        rows = await lane.call(query, f)
    except BaseException:
        lane.release()
        raise
    return StreamingResponse(
        lane.stream(_csv_lines(rows), (key, state)), media_type=CSV_TYPE, headers=headers
    )


@router.get("/verdicts.csv", summary="CSV of verdicts matching the filter")
async def verdicts_csv(
    request: Request, r: R, f: F, outcome: Opt = None, method: Opt = None
) -> Response:
    scope = f.replace(outcome=outcome or None, method=method or None)
    return await _csv_export(request, r.verdict_stream, scope, "verdicts.csv")


@router.get("/events.csv", summary="CSV of events matching the filter")
async def events_csv(request: Request, r: R, f: F, kind: Opt = None) -> Response:
    return await _csv_export(request, r.event_stream, f.replace(kind=kind or None), "events.csv")
