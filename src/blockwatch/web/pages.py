"""HTML pages: thin routes that fetch a view's data and render its template."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from blockwatch.web import report, views
from blockwatch.web.charts import legend_svg, timeline_svg
from blockwatch.web.filters import BUCKETS, Filters
from blockwatch.web.params import BucketParam, PageParam, filters, queries
from blockwatch.web.queries import Queries

router = APIRouter(include_in_schema=False)
Q = Annotated[Queries, Depends(queries)]
F = Annotated[Filters, Depends(filters)]


def _render(request: Request, name: str, f: Filters | None = None, **ctx: Any) -> HTMLResponse:
    env = request.app.state.templates
    html = env.get_template(name).render(
        qs=f.query_string() if f else "",
        from_=request.query_params.get("from", ""),
        to=request.query_params.get("to", ""),
        path=request.url.path,
        filterable=f is not None,
        **ctx,
    )
    return HTMLResponse(html)


def charts(tl: dict[str, Any]) -> list[tuple[str, str]]:
    """(network, svg) per series of a timeline (SVG text is escaped in charts.py)."""
    if not tl["series"]:
        return []
    length = BUCKETS[tl["bucket"]][1]
    return [(s.name, timeline_svg(s, tl["start"], tl["end"], length)) for s in tl["series"]]


def legend(tl: dict[str, Any]) -> str:
    methods = sorted({m for s in tl["series"] for b in s.buckets for m in b.methods})
    return legend_svg(methods)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, q: Q, f: F) -> HTMLResponse:
    return _render(request, "overview.html", f, **views.overview(q, f))


@router.get("/country/{cc}", response_class=HTMLResponse)
def country_page(request: Request, cc: str, q: Q, f: F) -> HTMLResponse:
    return _render(request, "country.html", f, **views.country(q, cc, f))


@router.get("/country/{cc}/domain/{domain}", response_class=HTMLResponse)
def domain_page(
    request: Request, cc: str, domain: str, q: Q, f: F, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.domain(q, cc, domain, f, bucket)
    tl = data["timeline"]
    return _render(request, "domain.html", f, charts=charts(tl), legend=legend(tl), **data)


@router.get("/network/{asn}", response_class=HTMLResponse)
def network_page(
    request: Request, asn: str, q: Q, f: F, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.network(q, asn, f, bucket)
    tl = data["timeline"]
    return _render(request, "network.html", f, charts=charts(tl), legend=legend(tl), **data)


@router.get("/event/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str, q: Q, page: PageParam = 1) -> HTMLResponse:
    data = views.event(q, event_id, page)
    tl = data["timeline"]
    return _render(
        request, "event.html", None, charts=charts(tl), legend=legend(tl),
        pdf_available=report.chromium_path() is not None, **data,
    )


@router.get("/measurement/{measurement_id}", response_class=HTMLResponse)
def measurement_page(request: Request, measurement_id: str, q: Q) -> HTMLResponse:
    return _render(request, "measurement.html", None, **views.measurement(q, measurement_id))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "report"


def _download(doc: report.Report, fmt: str) -> Response:
    name = f"blockwatch-{_safe_name(doc.slug)}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "pdf":
        return Response(report.html_to_pdf(doc.html), media_type="application/pdf",
                        headers=headers)
    return Response(doc.html, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/event/{event_id}/report.{fmt}")
def event_report(event_id: str, fmt: str, q: Q) -> Response:
    if fmt not in ("html", "pdf"):
        raise views.NotFound("report format", fmt)
    return _download(report.build(q, event_id=event_id), fmt)


@router.get("/report.{fmt}")
def scope_report(
    fmt: str, q: Q, f: F,
    cc: Annotated[str, Query(description="country code")],
    domain: Annotated[str, Query(description="domain")],
) -> Response:
    if fmt not in ("html", "pdf"):
        raise views.NotFound("report format", fmt)
    return _download(report.build(q, country=cc, domain=domain, f=f), fmt)

