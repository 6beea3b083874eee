"""HTML pages: thin routes that fetch a view's data and render its template."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from blockwatch.errors import FilterError
from blockwatch.store import Filter, Reads
from blockwatch.web import report, views
from blockwatch.web.answers import MAX_QUESTION, service_answers
from blockwatch.web.marks import annotation_rows, annotations_svg
from blockwatch.web.params import BucketParam, PageParam, filters, reads, time_range
from blockwatch.web.render import charts, legend, query_string

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
R = Annotated[Reads, Depends(reads)]
F = Annotated[Filter, Depends(filters)]
T = Annotated[Filter, Depends(time_range)]
Question = Annotated[
    str | None, Query(max_length=MAX_QUESTION, description='a service and country: "X in PK"')
]


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
def overview_page(request: Request, r: R, f: F, q: Question = None) -> HTMLResponse:
    answers = service_answers(r, request.app.state.services, q)
    return _render(request, "overview.html", f, services=answers, **views.overview(r, f))


def _context(r: Reads, cc: str, domains: list[str], tl: dict[str, Any]) -> dict[str, Any]:
    """The annotations of a page's country and domains, and their marks on its timeline."""
    rows = annotation_rows(r.annotations(cc, domains))
    return {"annotations": rows, "annotations_svg": annotations_svg(rows, tl["start"], tl["end"])}


@router.get("/country/{cc}", response_class=HTMLResponse)
def country_page(request: Request, cc: str, r: R, f: T) -> HTMLResponse:
    return _render(request, "country.html", f, **views.country(r, cc, f))


@router.get("/country/{cc}/domain/{domain}", response_class=HTMLResponse)
def domain_page(
    request: Request, cc: str, domain: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.domain(r, cc, domain, f, bucket)
    tl = data["timeline"]
    marks = _context(r, data["probe_cc"], [data["domain"]], tl)
    return _render(request, "domain.html", f, charts=charts(tl), legend=legend(tl), **marks, **data)


@router.get("/network/{asn}", response_class=HTMLResponse)
def network_page(
    request: Request, asn: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.network(r, asn, f, bucket)
    tl = data["timeline"]
    return _render(request, "network.html", f, charts=charts(tl), legend=legend(tl), **data)


@router.get("/event/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str, r: R, page: PageParam = 1) -> HTMLResponse:
    data = views.event(r, event_id, page)
    tl = data["timeline"]
    ev = data["event"]
    return _render(
        request,
        "event.html",
        None,
        charts=charts(tl),
        legend=legend(tl),
        **_context(r, ev["probe_cc"], [ev["domain"]] if ev["domain"] else [], tl),
        pdf_available=report.chromium_path() is not None,
        **data,
    )


@router.get("/measurement/{measurement_id}", response_class=HTMLResponse)
def measurement_page(request: Request, measurement_id: str, r: R) -> HTMLResponse:
    return _render(request, "measurement.html", None, **views.measurement(r, measurement_id))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "report"


def _download(doc: report.Report, fmt: str) -> Response:
    name = f"blockwatch-{_safe_name(doc.slug)}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "pdf":
        return Response(report.html_to_pdf(doc.html), media_type="application/pdf", headers=headers)
    return Response(doc.html, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/event/{event_id}/report.{fmt}")
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
