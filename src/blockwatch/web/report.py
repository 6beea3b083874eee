"""The evidence report: one self-contained HTML document (or its PDF) per event or target.

It states what was measured, where, when and how, explains the method in plain words, lists
every supporting measurement by id, embeds the timeline charts as inline SVG and the stylesheet
inline, and gives a SHA-256 over the exact data it rests on.

The checksum is over canonical JSONL: one line per supporting measurement, in measurement_id
order, ``{"measurement_id": ..., "raw": <raw measurement or null>, "verdict": <verdict row>}``:
the raw measurement byte for byte as the store holds it (as it was received, where it came as
one line), the rest serialized by orjson with sorted keys and times as ISO-8601 Z.
``--data-out rows.jsonl`` writes those exact bytes, so ``sha256sum rows.jsonl`` gives the
same digest without blockwatch.

The finished page is then sealed (web.seal): a SHA-256 over every byte of the document but the
seal, signed with the observatory's Ed25519 key when one is given. ``report_check`` verifies
both: the data against the store, the page against its seal (and the signature against a
published public key).
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jinja2 import Environment

from blockwatch import signing
from blockwatch.asn_names import open_asn_db
from blockwatch.errors import BlockwatchError
from blockwatch.store import Filter, Reads, Store
from blockwatch.web import pdf, provenance, seal, views
from blockwatch.web.marks import annotation_rows, annotations_svg
from blockwatch.web.render import charts, dumps, legend, make_templates
from blockwatch.web.traces import TRACE_TEST, report_traces
from blockwatch.web.views import NotFound

__all__ = [
    "PAPER_SIZES",
    "REPORT_FORMAT",
    "Report",
    "ReportError",
    "build",
    "canonical_lines",
    "chromium_path",
    "collect",
    "data_sha256",
    "html_to_pdf",
    "write",
    "write_report",
]

STATIC_CSS = Path(__file__).parent / "static" / "style.css"
# The paper a report is laid out for (CSS @page size): A4, or US Letter.
PAPER_SIZES: Final = {"a4": "A4", "letter": "letter"}
META_ID = "blockwatch-report"
# The report's format, embedded in its data and its seal: 2 since the page is sealed.
REPORT_FORMAT: Final = seal.SEAL_FORMAT


class ReportError(BlockwatchError):
    """The report cannot be made or checked (unknown scope, no chromium for PDF, ...)."""


@dataclass(slots=True)
class Report:
    slug: str
    html: str
    sha256: str
    measurement_ids: list[str]


# The verdict columns a checksum covers: fixed, so that a column added to the verdicts table
# later does not change the digest of every report written before it.
CHECKSUM_VERDICT_FIELDS: Final = (
    "measurement_id",
    "measured_at",
    "probe_cc",
    "probe_asn",
    "input",
    "domain",
    "test_name",
    "outcome",
    "method",
    "confidence",
    "confirmed",
    "evidence",
    "fingerprint",
    "ooni_blocking",
    "ooni_disagrees",
)


def _canon_verdict(row: dict[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in CHECKSUM_VERDICT_FIELDS}
    out["evidence"] = list(out.get("evidence") or [])
    return out


Window = tuple[datetime, datetime] | None


def collect(
    r: Reads, ids: list[str], window: Window = None
) -> tuple[list[str], dict[str, dict[str, Any]], dict[str, bytes]]:
    """(sorted unique ids, verdict rows by id, raw JSON bytes by id) a report rests on."""
    ids = sorted(set(ids))
    verdicts = {v["measurement_id"]: v for v in r.verdicts_by_ids(ids, window)}
    times = [v["measured_at"] for v in verdicts.values()]
    # The verdict times bound the measurements' times exactly: prune the raw scan with them.
    raw_window = (min(times), max(times)) if times else None
    raws = r.raw_measurements(ids, raw_window)
    return ids, verdicts, raws


def canonical_lines(
    ids: list[str], verdicts: dict[str, dict[str, Any]], raws: dict[str, bytes]
) -> Iterator[bytes]:
    """The canonical JSONL the checksum is computed over (see the module docstring)."""
    opts = orjson.OPT_SORT_KEYS | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
    for mid in sorted(set(ids)):
        v = verdicts.get(mid)
        raw = raws.get(mid, b"null")
        if b"\n" in raw or b"\r" in raw:
            # A pretty-printed .json file: one line per measurement needs it compact.
            raw = orjson.dumps(orjson.loads(raw))
        # The raw text goes in verbatim: it is the evidence, and re-encoding could alter it
        # (or fail on documents nested deeper than orjson writes).
        yield (
            b'{"measurement_id":'
            + orjson.dumps(mid)
            + b',"raw":'
            + raw.strip()
            + b',"verdict":'
            + orjson.dumps(_canon_verdict(v) if v else None, option=opts)
            + b"}\n"
        )


def _digest(lines: Iterator[bytes]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line)
    return h.hexdigest()


def data_sha256(r: Reads, ids: list[str], window: Window = None) -> str:
    return _digest(canonical_lines(*collect(r, ids, window)))


def _scope(
    r: Reads, event_id: str | None, f: Filter
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str], Window]:
    """(scope description, events shown, supporting measurement ids, a window holding them)."""
    if event_id is not None:
        ev = r.event(event_id)
        if ev is None:
            raise NotFound("event", event_id)
        children = r.child_events(event_id)
        # Every measurement behind its figures: the blocked ones it stores, and the ones that
        # got through in its span, which its availability counts.
        ids = r.event_basis_ids(ev, children)
        events = [ev, *children]
        scope = {
            "event_id": event_id,
            "probe_cc": ev["probe_cc"],
            "domain": ev["domain"],
            "probe_asn": ev["probe_asn"],
        }
        return scope, events, ids, r.event_window(ev)
    if not f.country or not f.domain:
        raise ReportError("a report needs --event ID, or --country CC with --domain D")
    keys = r.verdict_keys(f)
    if not keys:
        raise NotFound("measurements of", f"{f.country}/{f.domain} in this range")
    events = r.events(f)
    scope = {
        "probe_cc": f.country,
        "domain": f.domain,
        "probe_asn": f.asn,
        "since": f.since,
        "until": f.until,
    }
    times = [t for _, t in keys]
    return scope, events, [mid for mid, _ in keys], (min(times), max(times))


@functools.lru_cache(maxsize=8)
def _templates(network_name: Callable[[str | None], str | None] | None) -> Environment:
    """One environment per store's reader: it keeps the compiled template (compiling it costs
    more than rendering a report)."""
    return make_templates(network_name)


def _docs(raws: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """The raw measurements as JSON objects (those that are objects)."""
    docs = {}
    for mid, raw in raws.items():
        doc = orjson.loads(raw)
        if isinstance(doc, dict):
            docs[mid] = doc
    return docs


def _as_of(events: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> None:
    """Give each ongoing event the time of the last measurement of its networks
    (``as_of``): an ongoing event is ongoing as of then, not as of the report."""
    for e in events:
        if e["end"] is not None:
            continue
        nets = {e["probe_asn"]} if e["probe_asn"] else {n["probe_asn"] for n in e["networks"]}
        times = [v["measured_at"] for v in verdicts if not nets or v["probe_asn"] in nets]
        e["as_of"] = max(times, default=None)


def _availability_checks(
    events: list[dict[str, Any]], verdicts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per censorship event of one network: the listed measurements in its span, how many
    the event's methods blocked, and the availability they give, beside the stated one."""
    rows = []
    for e in events:
        if e["kind"] != "censorship" or not e["probe_asn"]:
            continue
        end = e["end"] or e.get("as_of") or e["start"]
        span = [
            v
            for v in verdicts
            if v["probe_asn"] == e["probe_asn"]
            and v["domain"] == e["domain"]
            and v["outcome"] in ("ok", "blocked")
            and e["start"] <= v["measured_at"] <= end
        ]
        blocked = sum(1 for v in span if v["outcome"] == "blocked" and v["method"] in e["methods"])
        n = len(span)
        rows.append(
            {
                "event": e,
                "n": n,
                "blocked": blocked,
                "through": n - blocked,
                "availability": (n - blocked) / n if n else None,
            }
        )
    return rows


CONTEXT_MARGIN: Final = timedelta(days=30)


def _context(r: Reads, scope: dict[str, Any], tl: dict[str, Any]) -> dict[str, Any]:
    """The annotations of the report's country and domain dated near its timeline (a month
    either side), listed and marked on the time axis."""
    domains = [scope["domain"]] if scope.get("domain") else []
    rows = annotation_rows(r.annotations(scope["probe_cc"], domains))
    lo, hi = tl.get("start"), tl.get("end")
    if lo is not None and hi is not None:
        rows = [
            a
            for a in rows
            if a["start"] <= hi + CONTEXT_MARGIN and (a["end"] or a["start"]) >= lo - CONTEXT_MARGIN
        ]
    return {"annotations": rows, "annotations_svg": annotations_svg(rows, lo, hi)}


def _software(raws: dict[str, bytes]) -> str | None:
    """What made the measurements, from one of them (``software_name software_version``)."""
    sample = next(iter(raws.values()), None)
    if not sample:
        return None
    doc = orjson.loads(sample)
    return f"{doc.get('software_name', '?')} {doc.get('software_version', '')}".strip()


def build(
    r: Reads,
    *,
    event_id: str | None = None,
    scope: Filter | None = None,
    signer: Ed25519PrivateKey | None = None,
    paper: str = "a4",
) -> Report:
    """Collect the data, checksum it, render the document and seal it (signed by ``signer``
    when given): on one event, or on the domain in the country that ``scope`` names (its
    other fields narrowing further). ``paper``: a key of PAPER_SIZES."""
    if paper not in PAPER_SIZES:
        raise ReportError(f"paper {paper!r}: choose one of {', '.join(PAPER_SIZES)}")
    f = (scope or Filter()).normalized()
    described, events, ids, window = _scope(r, event_id, f)
    traces = report_traces(r, event_id, events, f)  # hashed with the rest, listed apart
    ids, by_id, raws = collect(r, [*ids, *(t["measurement_id"] for t in traces)], window)
    digest = _digest(canonical_lines(ids, by_id, raws))
    shown = [v for v in by_id.values() if v["test_name"] != TRACE_TEST]
    verdicts = sorted(shown, key=lambda v: (v["measured_at"], v["measurement_id"]))
    docs = _docs(raws)
    _as_of(events, verdicts)
    if event_id is not None:
        tl = views.event_timeline(r, events[0], events[1:])
    else:
        tl = views.domain(r, f.country or "", f.domain or "", f, None)["timeline"]
    meta = {
        "format": REPORT_FORMAT,
        "scope": described,
        "sha256": digest,
        "measurement_ids": ids,
        "algorithm": "sha256 over canonical JSONL (see methodology)",
    }
    # JSON inside <script type="application/json"> is data, never run; "<" is escaped
    # so no measured text can close the element.
    meta_json = dumps(meta).decode().replace("<", "\\u003c").replace(">", "\\u003e")
    slug = f"event-{event_id}" if event_id else f"{f.country}-{f.domain}"
    page = (
        _templates(r.network_name)
        .get_template("report.html")
        .render(
            scope=described,
            events=events,
            verdicts=verdicts,
            n=len(verdicts),
            traces=traces,
            in_report=True,
            outcomes=Counter(v["outcome"] for v in verdicts).most_common(),
            methods=Counter(v["method"] for v in verdicts if v["method"]).most_common(),
            networks=sorted({v["probe_asn"] for v in verdicts if v["probe_asn"]}),
            inputs=sorted({v["input"] for v in verdicts if v["input"]}),
            test_names=sorted({v["test_name"] for v in verdicts if v["test_name"]}),
            first=min((v["measured_at"] for v in verdicts), default=None),
            last=max((v["measured_at"] for v in verdicts), default=None),
            sources=provenance.sources(docs),
            origins={mid: provenance.origin_of(doc) for mid, doc in docs.items()},
            links={m: u for m, d in docs.items() if (u := provenance.explorer_url(d))},
            explorer=provenance.EXPLORER,
            ooni_reports={
                m: d["report_id"] for m, d in docs.items() if provenance.origin_of(d) == "ooni"
            },
            vantages=len({(v["probe_cc"], v["probe_asn"]) for v in verdicts}),
            probes=len({str(d.get("report_id")) for d in docs.values() if d.get("report_id")}),
            excerpts=provenance.excerpts(verdicts, docs),
            checks=_availability_checks(events, verdicts),
            paper=PAPER_SIZES[paper],
            sha256=digest,
            charts=charts(tl),
            legend=legend(tl),
            **_context(r, described, tl),
            css=STATIC_CSS.read_text(),
            meta_json=meta_json,
            meta_id=META_ID,
            generated=datetime.now(UTC).replace(microsecond=0),
            slug=slug,
            report_format=REPORT_FORMAT,
            key_id=signing.key_id(signer.public_key()) if signer else None,
        )
    )
    return Report(slug, seal.seal(page, signer), digest, ids)


def chromium_path() -> str | None:
    return pdf.chromium_path()


def html_to_pdf(page: str, timeout: float = 90.0) -> bytes:
    """Print the HTML to PDF with headless chromium (the document needs nothing external)."""
    try:
        return pdf.html_to_pdf(page, timeout)
    except pdf.PdfError as exc:
        raise ReportError(str(exc)) from exc


def write(doc: Report, out_path: Path) -> Path:
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise ReportError(f"{out_path}: the output must end in .html or .pdf")
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".pdf":
            out_path.write_bytes(html_to_pdf(doc.html))
        else:
            out_path.write_bytes(doc.html.encode())  # exact bytes: the seal covers each one
    except OSError as exc:
        raise ReportError(f"cannot write {out_path}: {exc}") from exc
    return out_path


def write_report(
    db_path: str | Path,
    out_path: str | Path,
    *,
    event_id: str | None = None,
    scope: Filter | None = None,
    signer: Ed25519PrivateKey | None = None,
    paper: str = "a4",
    asn_db: str | Path | None = None,
) -> Path:
    """Write the evidence report for an event, or for a domain in a country, to .html/.pdf
    (signed by ``signer``: HTML only, the signature lives in the document's seal); networks
    no measurement named are named from ``asn_db`` when given."""
    if signer is not None and Path(out_path).suffix.lower() == ".pdf":
        raise ReportError("a signed report is HTML (its seal holds the signature): use .html")
    names = open_asn_db(asn_db) if asn_db is not None else None
    with Store(db_path, read_only=True) as store:
        r = Reads(store)
        r.use_names(names.name if names is not None else None)
        doc = build(r, event_id=event_id, scope=scope, signer=signer, paper=paper)
    if names is not None:
        names.close()
    return write(doc, Path(out_path))
