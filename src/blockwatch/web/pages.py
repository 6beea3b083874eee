"""HTML pages: thin routes that fetch a view's data and render its template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response

from blockwatch.errors import FilterError
from blockwatch.store import Filter, Reads
from blockwatch.web import report, views
from blockwatch.web.answers import MAX_QUESTION, service_answers
from blockwatch.web.charts import NARROW_W
from blockwatch.web.heavy import HeavyLane, PdfJob, PdfJobs
from blockwatch.web.marks import annotation_rows, annotations_svg
from blockwatch.web.params import BucketParam, PageParam, filters, reads, time_range
from blockwatch.web.render import charts, legend_for_page, query_string

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
R = Annotated[Reads, Depends(reads)]
F = Annotated[Filter, Depends(filters)]
T = Annotated[Filter, Depends(time_range)]
Question = Annotated[
    str | None, Query(max_length=MAX_QUESTION, description='a service and country: "X in PK"')
]
PDF_REFRESH_S = 3
FAVICON = Path(__file__).parent / "static" / "favicon.svg"


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
def overview_page(request: Request, r: R, f: F, q: Question = None) -> HTMLResponse:
    data = views.overview(r, f)
    # Over the whole store, the page's country table is what the answers count networks in.
    whole = data["countries"] if f == Filter() else None
    answers = service_answers(r, request.app.state.services, q, whole)
    if views.empty_range(r, f):  # "ongoing" is as of the last measurement: none in range
        answers = {**answers, "answers": [e for e in answers["answers"] if not e["ongoing"]]}
    return _render(request, "overview.html", f, services=answers, **data)


def _context(r: Reads, cc: str, domains: list[str], tl: dict[str, Any]) -> dict[str, Any]:
    """The annotations of a page's country and domains, and their marks on its timeline."""
    rows = annotation_rows(r.annotations(cc, domains))
    return {"annotations": rows, "annotations_svg": annotations_svg(rows, tl["start"], tl["end"])}


@router.get("/country/{cc}", response_class=HTMLResponse)
def country_page(request: Request, cc: str, r: R, f: T) -> HTMLResponse:
    return _render(request, "country.html", f, **views.country(r, cc, f))


@router.get("/country/{cc}/domain/{domain:path}", response_class=HTMLResponse)
def domain_page(
    request: Request, cc: str, domain: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.domain(r, cc, domain, f, bucket)
    tl = data["timeline"]
    marks = _context(r, data["probe_cc"], [data["domain"]], tl)
    return _render(request, "domain.html", f, **_charts(tl), **marks, **data)


@router.get("/network/{asn:path}", response_class=HTMLResponse)
def network_page(
    request: Request, asn: str, r: R, f: T, bucket: BucketParam = None
) -> HTMLResponse:
    data = views.network(r, asn, f, bucket)
    return _render(request, "network.html", f, **_charts(data["timeline"]), **data)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "report"


def _download(slug: str, body: bytes, fmt: str, download: bool) -> Response:
    """The report, opened in the browser (``inline``: a reader wants to see it) or, with
    ``?download=1``, saved; either way under a name that says what it is."""
    name = f"blockwatch-{_safe_name(slug)}.{fmt}"
    disposition = "attachment" if download else "inline"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}"'}
    media = "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8"
    return Response(body, media_type=media, headers=headers)


async def _report(
    request: Request, fmt: str, event_id: str | None, scope: Filter | None
) -> Response:
    download = request.query_params.get("download") in ("1", "true", "yes")
    """A report built off the event loop (heavy.py); a PDF is a job with a waiting page."""
    if fmt not in ("html", "pdf"):
        raise views.NotFound("report format", fmt)
    lane: HeavyLane = request.app.state.heavy
    if fmt == "html":
        slug, html = await lane.report_html(event_id, scope)
        return _download(slug, html.encode("utf-8"), "html", download)
    jobs: PdfJobs = request.app.state.pdf_jobs
    key = ("event", event_id) if event_id is not None else ("scope", scope)
    job = jobs.get(key)
    if job is None:
        if (
            event_id is not None
            and await run_in_threadpool(request.app.state.reads.event, event_id) is None
        ):
            raise views.NotFound("event", event_id)  # said at once, not after a wait
        job = jobs.start(key, event_id, scope)
    if job.task.done():
        slug, pdf = job.task.result()  # a failed job raises its error here (JobFailed)
        return _download(slug, pdf, "pdf", download)
    return _waiting_page(request, job)


def _waiting_page(request: Request, job: PdfJob) -> HTMLResponse:
    """202: the PDF is being printed; the page reloads itself (no script) until it is ready."""
    # The address as the reader sent it (still percent-encoded, so an id holding "?" or "/"
    # links back to itself).
    path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    query = f"?{request.url.query}" if request.url.query else ""
    page = _render(
        request,
        "pdf_wait.html",
        None,
        waited=round(job.waited),
        refresh=PDF_REFRESH_S,
        again=path + query,
        html_link=path.removesuffix(".pdf") + ".html" + query,
    )
    page.status_code = 202
    page.headers["Retry-After"] = str(PDF_REFRESH_S)
    page.headers["Cache-Control"] = "no-store"
    return page


# Ids may hold "/" (links escape it, the server unescapes it before routing), so id routes
# take the rest of the path; the report's route is matched first, as it is the longer one.
@router.get("/event/{event_id:path}/report.{fmt}")
async def event_report(request: Request, event_id: str, fmt: str) -> Response:
    return await _report(request, fmt, event_id, None)


@router.get("/report.{fmt}")
async def scope_report(request: Request, fmt: str, f: F) -> Response:
    """The evidence report on a domain in a country (``country`` and ``domain`` required)."""
    if fmt in ("html", "pdf") and (f.country is None or f.domain is None):
        raise FilterError("country", "a report names a country and a domain")
    return await _report(request, fmt, None, f.normalized())


@router.get("/event/{event_id:path}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str, r: R, page: PageParam = 1) -> HTMLResponse:
    data = views.event(r, event_id, page)
    tl = data["timeline"]
    ev = data["event"]
    return _render(
        request,
        "event.html",
        None,
        **_charts(tl),
        **_context(r, ev["probe_cc"], [ev["domain"]] if ev["domain"] else [], tl),
        pdf_available=report.chromium_path() is not None,
        **data,
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for it on every site: the same icon the pages link to."""
    return FileResponse(FAVICON, media_type="image/svg+xml")


@router.get("/measurement/{measurement_id:path}", response_class=HTMLResponse)
def measurement_page(request: Request, measurement_id: str, r: R) -> HTMLResponse:
    return _render(request, "measurement.html", None, **views.measurement(r, measurement_id))
