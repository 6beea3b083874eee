"""HTML pages: thin routes that fetch a view's data and render its template."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from blockwatch.errors import FilterError
from blockwatch.store import Filter, Reads
from blockwatch.web import report, views
from blockwatch.web.params import BucketParam, PageParam, filters, reads, time_range
from blockwatch.web.render import charts, legend, query_string

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
R = Annotated[Reads, Depends(reads)]
F = Annotated[Filter, Depends(filters)]
T = Annotated[Filter, Depends(time_range)]


def _render(request: Request, name: str, f: Filter | None = None, **ctx: Any) -> HTMLResponse:
    env = request.app.state.templates
    html = env.get_template(name).render(
        qs=query_string(f) if f else "",
        since=f.since.date().isoformat() if f and f.since else "",
        until=f.until.date().isoformat() if f and f.until else "",
        path=request.url.path,
        filterable=f is not None,
        **ctx,
    )
    return HTMLResponse(html)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, r: R, f: F) -> HTMLResponse:
    return _render(request, "overview.html", f, **views.overview(r, f))


@router.get("/country/{cc}", response_class=HTMLResponse)
def country_page(request: Request, cc: str, r: R, f: T) -> HTMLResponse:
    return _render(request, "country.html", f, **views.country(r, cc, f))


@router.get("/country/{cc}/domain/{domain:path}", response_class=HTMLResponse)
def domain_page(
    request: Request, cc: str, domain: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.domain(r, cc, domain, f, bucket)
    tl = data["timeline"]
    return _render(request, "domain.html", f, charts=charts(tl), legend=legend(tl), **data)


@router.get("/network/{asn:path}", response_class=HTMLResponse)
def network_page(
    request: Request, asn: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.network(r, asn, f, bucket)
    tl = data["timeline"]
    return _render(request, "network.html", f, charts=charts(tl), legend=legend(tl), **data)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "report"


def _download(doc: report.Report, fmt: str) -> Response:
    name = f"blockwatch-{_safe_name(doc.slug)}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "pdf":
        return Response(report.html_to_pdf(doc.html), media_type="application/pdf", headers=headers)
    return Response(doc.html, media_type="text/html; charset=utf-8", headers=headers)


# Ids may hold "/" (links escape it, the server unescapes it before routing), so id routes
# take the rest of the path; the report's route is matched first, as it is the longer one.
@router.get("/event/{event_id:path}/report.{fmt}")
def event_report(event_id: str, fmt: str, r: R) -> Response:
    if fmt not in ("html", "pdf"):
        raise views.NotFound("report format", fmt)
    return _download(report.build(r, event_id=event_id), fmt)


@router.get("/report.{fmt}")
def scope_report(fmt: str, r: R, f: F) -> Response:
    """The evidence report on a domain in a country (``country`` and ``domain`` required)."""
    if fmt not in ("html", "pdf"):
        raise views.NotFound("report format", fmt)
    if f.country is None or f.domain is None:
        raise FilterError("country", "a report names a country and a domain")
    return _download(report.build(r, scope=f), fmt)


@router.get("/event/{event_id:path}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str, r: R, page: PageParam = 1) -> HTMLResponse:
    data = views.event(r, event_id, page)
    tl = data["timeline"]
    return _render(
        request,
        "event.html",
        None,
        charts=charts(tl),
        legend=legend(tl),
        pdf_available=report.chromium_path() is not None,
        **data,
    )


@router.get("/measurement/{measurement_id:path}", response_class=HTMLResponse)
def measurement_page(request: Request, measurement_id: str, r: R) -> HTMLResponse:
    return _render(request, "measurement.html", None, **views.measurement(r, measurement_id))
