"""HTML pages: thin routes that fetch a view's data and render its template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from blockwatch.errors import FilterError
from blockwatch.store import Filter, Reads
from blockwatch.web import report, views
from blockwatch.web.charts import NARROW_W
from blockwatch.web.params import BucketParam, PageParam, filters, reads, time_range
from blockwatch.web.render import charts, legend_for_page, query_string

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
FAVICON = Path(__file__).parent / "static" / "favicon.svg"
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


def _charts(tl: dict[str, Any]) -> dict[str, Any]:
    """A page's charts: (network, wide SVG, narrow SVG) each, CSS showing the one that fits
    the screen, and the legend."""
    wide, narrow = charts(tl), charts(tl, NARROW_W)
    return {
        "charts": [
            (name, svg, small) for (name, svg), (_, small) in zip(wide, narrow, strict=True)
        ],
        "legend": legend_for_page(tl),
    }


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, r: R, f: F) -> HTMLResponse:
    return _render(request, "overview.html", f, **views.overview(r, f))


@router.get("/country/{cc}", response_class=HTMLResponse)
def country_page(request: Request, cc: str, r: R, f: T) -> HTMLResponse:
    return _render(request, "country.html", f, **views.country(r, cc, f))


# :path: a measured host name may hold a "/" (it is matched as stored, never trusted).
@router.get("/country/{cc}/domain/{domain:path}", response_class=HTMLResponse)
def domain_page(
    request: Request, cc: str, domain: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.domain(r, cc, domain, f, bucket)
    return _render(request, "domain.html", f, **_charts(data["timeline"]), **data)


@router.get("/network/{asn}", response_class=HTMLResponse)
def network_page(
    request: Request, asn: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.network(r, asn, f, bucket)
    return _render(request, "network.html", f, **_charts(data["timeline"]), **data)


@router.get("/event/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str, r: R, page: PageParam = 1) -> HTMLResponse:
    data = views.event(r, event_id, page)
    return _render(
        request,
        "event.html",
        None,
        **_charts(data["timeline"]),
        pdf_available=report.chromium_path() is not None,
        **data,
    )


@router.get("/measurement/{measurement_id}", response_class=HTMLResponse)
def measurement_page(request: Request, measurement_id: str, r: R) -> HTMLResponse:
    return _render(request, "measurement.html", None, **views.measurement(r, measurement_id))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "report"


def _download(doc: report.Report, fmt: str, download: bool) -> Response:
    """The report, opened in the browser (``inline``: a reader wants to see it) or, with
    ``?download=1``, saved; either way under a name that says what it is."""
    name = f"blockwatch-{_safe_name(doc.slug)}.{fmt}"
    disposition = "attachment" if download else "inline"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}"'}
    if fmt == "pdf":
        return Response(report.html_to_pdf(doc.html), media_type="application/pdf", headers=headers)
    return Response(doc.html, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/event/{event_id}/report.{fmt}")
def event_report(event_id: str, fmt: str, r: R, download: bool = False) -> Response:
    if fmt not in ("html", "pdf"):
        raise views.NotFound("report format", fmt)
    return _download(report.build(r, event_id=event_id), fmt, download)


@router.get("/report.{fmt}")
def scope_report(fmt: str, r: R, f: F, download: bool = False) -> Response:
    """The evidence report on a domain in a country (``country`` and ``domain`` required)."""
    if fmt not in ("html", "pdf"):
        raise views.NotFound("report format", fmt)
    if f.country is None or f.domain is None:
        raise FilterError("country", "a report names a country and a domain")
    return _download(report.build(r, scope=f), fmt, download)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for it on every site: the same icon the pages link to."""
    return FileResponse(FAVICON, media_type="image/svg+xml")
