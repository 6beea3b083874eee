"""What `make demo` runs: the lab's Pakistan-2024-X scenario end to end.

lab run -> verdicts -> events (ours and OONI's CUSUM) -> score against ground truth ->
a trace of x.com from PTCL (where on the path the censor is) -> evidence report for the X
event -> dashboard. Where this machine cannot build the lab
(not root, no nftables/iproute2), it says so and falls back to the OONI data in
../shared/data: ingest, verdicts, events; it says which data it used, and finds events in
real measurements only (OONI's QA runs of simulated censorship, which carry no report id,
are left out).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from blockwatch.analysis.annotations import load as load_annotations
from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Event, Verdict
from blockwatch.cli.events import render_events_table
from blockwatch.cli.progress import ByteProgress
from blockwatch.config import shared_data_dir
from blockwatch.errors import BlockwatchError
from blockwatch.lab import topology
from blockwatch.lab.run import run_scenario
from blockwatch.lab.scenario import load as load_scenario
from blockwatch.lab.score import score_run
from blockwatch.lab.scoreview import render_score
from blockwatch.lab.tracing import last_blocked_at, trace_in_lab
from blockwatch.ooni.reader import RawDocument
from blockwatch.pipeline import ingest_documents, ingest_paths
from blockwatch.probe.testing.mmdb import write_asn_db
from blockwatch.store import Store
from blockwatch.terminal import cell, clean, markup
from blockwatch.web.app import build_app, serve
from blockwatch.web.report import write_report

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "scenarios" / "pk-2024-x.toml"
# The dated facts behind the scenario (DESIGN §6.3): on the timelines and in the report.
SCENARIO_ANNOTATIONS = REPO / "scenarios" / "pk-2024-x.annotations.toml"
# Where on the path: x.com traced from a network whose censor is in its path.
TRACE_NETWORK, TRACE_DOMAIN, TRACE_URL = "PTCL", "x.com", "https://x.com/"
# Wide enough for the event and score tables when the output is a log, not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)


def print_verdict_summary(db: Path, verdicts: list[Verdict] | None = None) -> None:
    if verdicts is None:
        with Store(db, read_only=True) as store:
            verdicts = store.verdicts()
    if not verdicts:
        console.print("[yellow]no verdicts in the store[/]")
        return
    counts: Counter[tuple[str, str, str, str]] = Counter(
        (v.probe_cc, v.domain or "-", v.outcome, v.method or "") for v in verdicts
    )
    table = Table(title=f"Verdicts per country and domain ({len(verdicts)} measurements)")
    for col in ("country", "domain", "outcome", "method", "count"):
        table.add_column(col)
    for (cc, domain, outcome, method), n in sorted(counts.items()):
        table.add_row(cell(cc), cell(domain), cell(outcome), cell(method), str(n))
    console.print(table)


def compute_events(db: Path, verdicts: list[Verdict] | None = None) -> list[Event]:
    """Events of ``verdicts`` (default: every verdict in the store), stored in place of the
    store's events."""
    with Store(db) as store:
        events = detect_events(store.verdicts() if verdicts is None else verdicts)
        store.replace_events(events)
    return events


def unpublished(store: Store) -> dict[str, str]:
    """Measurements with no report id (id -> the file it came from): never submitted to a
    collector. In OONI's data these are runs on a developer's machine, such as OONI Probe's
    QA runs of simulated censorship (stamped with a real country and network), never
    evidence of censorship anywhere."""
    with store.cursor() as cur:
        rows = cur.execute(
            "SELECT measurement_id, source FROM measurements WHERE coalesce(report_id, '') = ''"
        ).fetchall()
    return {r[0]: str(r[1] or "") for r in rows}


def real_verdicts(db: Path) -> tuple[list[Verdict], Counter[str]]:
    """(verdicts of real measurements, how many were left out per folder they came from)."""
    with Store(db, read_only=True) as store:
        left_out = unpublished(store)
        verdicts = store.verdicts()
    folders = Counter(Path(src).parent.name or "?" for src in left_out.values())
    return [v for v in verdicts if v.measurement_id not in left_out], folders


def describe_data(data: Path) -> str:
    """What the fallback reads: each folder and its number of files."""
    parts = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        n = sum(1 for f in folder.rglob("*") if f.is_file())
        parts.append(f"{folder.name}/ ({n} files)")
    return ", ".join(parts) or "no folders"


def import_annotations(db: Path, path: Path) -> None:
    if not path.exists():
        return
    with Store(db) as store:
        n = store.add_annotations(load_annotations(path))
    console.print(f"{n} annotations from {markup(path.name)}")


def demo_traces(out: Path, db: Path) -> None:
    """Trace x.com from PTCL with the censors as in the last round that blocks it there, and
    store the trace: the event page and the report then say at which hop, in which AS."""
    console.rule(f"Where on the path: {TRACE_URL} from {TRACE_NETWORK}")
    at = last_blocked_at(load_scenario(SCENARIO), TRACE_NETWORK, TRACE_DOMAIN)
    if at is None:
        console.print(f"[yellow]{TRACE_NETWORK} never blocks {TRACE_DOMAIN}: no trace[/]")
        return
    work = out / "trace"
    options = ("--wait", "0.5", "--max-ttl", "8")
    try:
        docs, _ = trace_in_lab(SCENARIO, TRACE_NETWORK, [TRACE_URL], work, at, options,
                               write_asn_db)  # fmt: skip
    except BlockwatchError as exc:  # the demo goes on without it
        console.print(f"[yellow]trace failed: {markup(exc)}[/]")
        return
    source = work / "traces.jsonl"
    source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    with Store(db) as store:
        raw = [RawDocument(str(source), i + 1, d) for i, d in enumerate(docs)]
        added = ingest_documents(store, raw).added
    for doc in docs:
        console.print(f"{markup(doc['input'])} at {at:%Y-%m-%d %H:%M} (virtual time): "
                      f"{markup(doc['test_keys']['summary'])}")  # fmt: skip
    console.print(f"stored ({added} new measurement{'s' if added != 1 else ''})")


def demo_real_data(db: Path) -> int:
    data = shared_data_dir() / "ooni"
    if not data.is_dir():
        console.print(f"[yellow]no OONI measurements at {markup(data)}: nothing to analyse[/]")
        return 0
    console.rule("Ingesting the OONI measurements in ../shared/data")
    console.print(f"data used: {markup(data)}: {markup(describe_data(data))}", highlight=False)
    with Store(db) as store, ByteProgress() as bar:
        report = ingest_paths(store, [data], progress=bar)
    console.print(
        f"{report.read} records read: {report.added} added, {report.duplicates} duplicates, "
        f"{report.malformed} malformed"
    )
    for err in report.errors[:10]:
        console.print(f"  [yellow]{markup(err)}[/]", highlight=False)
    real, left_out = real_verdicts(db)
    where = ", ".join(f"{k} from {folder}/" for folder, k in sorted(left_out.items()))
    console.print(
        f"left out of the events: {sum(left_out.values())} measurements with no report id "
        f"({markup(where or 'none')}): never published, such as OONI Probe's QA runs of "
        "simulated censorship stamped with a real country; no evidence of censorship",
        highlight=False,
    )
    print_verdict_summary(db, real)
    events = compute_events(db, real)
    censorship = sum(1 for e in events if e.kind == "censorship")
    console.print(
        f"events found in the {len(real)} real measurements: {censorship} censorship, "
        f"{len(events) - censorship} outages"
        + ("" if events else " (real OONI samples this sparse show no event)")
    )
    if events:
        console.print(render_events_table(events))
    # OONI's published findings, as context on the same timelines.
    import_annotations(db, data / "labels" / "incidents.json")
    return 0


def demo_lab(out: Path, db: Path, serve_dashboard: bool, port: int) -> int:
    console.rule(f"Lab: {SCENARIO.name} (a real censored network in namespaces)")
    summary = run_scenario(SCENARIO, out, db=db, progress=True)
    console.print("\n".join(clean(s) for s in str(summary).splitlines()), markup=False)
    console.rule("Events found")
    events = compute_events(db)
    console.print(render_events_table(events))
    import_annotations(db, SCENARIO_ANNOTATIONS)
    console.rule("Score against the lab's ground truth (ours vs OONI's CUSUM)")
    render_score(score_run(out), console)
    demo_traces(out, db)
    x_events = [e for e in events if e.kind == "censorship" and e.probe_asn is None]
    # The main block of x.com: the country-level event resting on the most measurements.
    x_events.sort(key=lambda e: (e.domain != "x.com", -len(e.measurements)))
    if x_events:
        report = write_report(db, out / "evidence-x.html", event_id=x_events[0].event_id)
        console.print(f"evidence report for {markup(x_events[0].domain)}: {markup(report)}")
    if serve_dashboard:
        console.print(f"dashboard: http://127.0.0.1:{port}/  (Ctrl-C to stop)")
        serve(build_app(db), "127.0.0.1", port)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockwatch.cli.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--port", type=int, default=8642)
    parser.add_argument(
        "--no-serve",
        action="store_true",
        default=os.environ.get("BLOCKWATCH_DEMO_SERVE") == "0",
        help="stop after the report instead of serving the dashboard",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.db or args.out / "blockwatch.duckdb"
    # A demo is a fresh run: stale results from an earlier run would mix into the events.
    for stale in (db, db.with_suffix(db.suffix + ".wal")):
        stale.unlink(missing_ok=True)
    try:
        reason = topology.skip_reason()
        if reason is None and SCENARIO.exists():
            return demo_lab(args.out, db, serve_dashboard=not args.no_serve, port=args.port)
        console.print(f"[yellow]lab not available: {markup(reason or 'no scenario file')}[/]")
        console.print("falling back to the real OONI data in ../shared/data")
        return demo_real_data(db)
    except BlockwatchError as exc:
        console.print(f"[bold red]error:[/] {markup(exc)}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
