"""The JSON API (each page's data under /api/…) and CSV export of verdicts and events.

The OpenAPI schema is at /api/openapi.json. CSV streams in batches straight from DuckDB, so
an export of any filter, however large, never sits whole in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from blockwatch.analysis.records import EVENT_JSONL_FIELDS, VERDICT_JSONL_FIELDS
from blockwatch.store.schema import iso_z
from blockwatch.web import views
from blockwatch.web.app import JSON
from blockwatch.web.filters import Filters
from blockwatch.web.params import BucketParam, PageParam, filters, queries
from blockwatch.web.queries import PAGE_SIZE, Queries

router = APIRouter(prefix="/api", tags=["api"])
Q = Annotated[Queries, Depends(queries)]
F = Annotated[Filters, Depends(filters)]
Opt = Annotated[str | None, Query()]


@router.get("/overview", summary="Countries and ongoing events")
def api_overview(q: Q, f: F) -> JSON:
    return JSON(views.overview(q, f))


@router.get("/countries/{cc}", summary="A country: its networks, domains, events")
def api_country(cc: str, q: Q, f: F) -> JSON:
    return JSON(views.country(q, cc, f))


@router.get("/countries/{cc}/domains/{domain}", summary="A domain's timeline per network")
def api_domain(cc: str, domain: str, q: Q, f: F, bucket: BucketParam = None) -> JSON:
    data = views.domain(q, cc, domain, f, bucket)
    data["timeline"] = views.timeline_json(data["timeline"])
    return JSON(data)


@router.get("/networks/{asn}", summary="A network (ASN): domains, events, timeline")
def api_network(asn: str, q: Q, f: F, bucket: BucketParam = None) -> JSON:
    data = views.network(q, asn, f, bucket)
    data["timeline"] = views.timeline_json(data["timeline"])
    return JSON(data)


@router.get("/events/{event_id}", summary="An event: networks, span, methods, measurements")
def api_event(event_id: str, q: Q, page: PageParam = 1) -> JSON:
    data = views.event(q, event_id, page)
    data["timeline"] = views.timeline_json(data["timeline"])
    return JSON(data)


@router.get("/measurements/{measurement_id}", summary="A measurement: observations, verdicts")
def api_measurement(measurement_id: str, q: Q) -> JSON:
    return JSON(views.measurement(q, measurement_id))


@router.get("/events", summary="Events overlapping the range")
def api_events(
    q: Q, f: F, cc: Opt = None, asn: Opt = None, domain: Opt = None, kind: Opt = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> JSON:
    return JSON({"events": q.events(f, cc=cc, asn=asn, domain=domain, kind=kind, limit=limit)})


@router.get("/verdicts", summary="Verdicts matching the filter, a page at a time")
def api_verdicts(
    q: Q, f: F, cc: Opt = None, asn: Opt = None, domain: Opt = None, outcome: Opt = None,
    method: Opt = None, page: PageParam = 1,
) -> JSON:
    where, params = q.verdicts_where(f, cc=cc, asn=asn, domain=domain, outcome=outcome,
                                     method=method)
    cols = ", ".join(f'"{c}"' for c in VERDICT_JSONL_FIELDS)
    rows = q.rows(
        f"SELECT {cols} FROM verdicts WHERE {where} ORDER BY measured_at, measurement_id"
        " LIMIT ? OFFSET ?",
        [*params, PAGE_SIZE, (page - 1) * PAGE_SIZE],
    )
    return JSON({"page": page, "page_size": PAGE_SIZE, "verdicts": rows})


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


def _csv_stream(q: Queries, sql: str, params: list[Any], header: tuple[str, ...]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for _cols, rows in q.iter_rows(sql, params):
        for row in rows:
            writer.writerow([_csv_cell(v) for v in row])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def _csv_response(body: Iterator[str], name: str) -> StreamingResponse:
    return StreamingResponse(
        body, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/verdicts.csv", summary="CSV of verdicts matching the filter")
def verdicts_csv(
    q: Q, f: F, cc: Opt = None, asn: Opt = None, domain: Opt = None, outcome: Opt = None,
    method: Opt = None,
) -> StreamingResponse:
    where, params = q.verdicts_where(f, cc=cc, asn=asn, domain=domain, outcome=outcome,
                                     method=method)
    cols = ", ".join(f'"{c}"' for c in VERDICT_JSONL_FIELDS)
    sql = f"SELECT {cols} FROM verdicts WHERE {where} ORDER BY measured_at, measurement_id"
    # Fail before the response starts (a clean error, not a cut stream).
    q.rows(f"SELECT 1 FROM verdicts WHERE {where} LIMIT 1", params)
    return _csv_response(_csv_stream(q, sql, params, VERDICT_JSONL_FIELDS), "verdicts.csv")


@router.get("/events.csv", summary="CSV of events matching the filter")
def events_csv(
    q: Q, f: F, cc: Opt = None, asn: Opt = None, domain: Opt = None, kind: Opt = None,
) -> StreamingResponse:
    where, params = f.events_sql()
    for col, val in (("probe_cc", cc), ("probe_asn", asn), ("domain", domain), ("kind", kind)):
        if val:
            where += f" AND {col} = ?"
            params.append(val)
    cols = ", ".join(f'"{c}"' for c in EVENT_JSONL_FIELDS)
    sql = f'SELECT {cols} FROM events WHERE {where} ORDER BY "start", event_id'
    return _csv_response(_csv_stream(q, sql, params, EVENT_JSONL_FIELDS), "events.csv")
