"""What `make demo` runs: the lab's Pakistan-2024-X scenario end to end.

lab run -> verdicts -> events (ours and OONI's CUSUM) -> score against ground truth ->
evidence report for the X event -> dashboard. Where this machine cannot build the lab
(not root, no nftables/iproute2), it says so and falls back to the real OONI data in
../shared/data: ingest, verdicts, events.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from blockwatch.analysis.annotations import load as load_annotations
from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Event
from blockwatch.cli.events import render_events_table
from blockwatch.cli.progress import ByteProgress
from blockwatch.config import shared_data_dir
from blockwatch.errors import BlockwatchError
from blockwatch.lab import topology
from blockwatch.lab.run import run_scenario
from blockwatch.lab.score import score_run
from blockwatch.lab.scoreview import render_score
from blockwatch.pipeline import ingest_paths
from blockwatch.store import Store
from blockwatch.terminal import cell, clean, markup
from blockwatch.web.app import build_app, serve
from blockwatch.web.report import write_report

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "scenarios" / "pk-2024-x.toml"
# The dated facts behind the scenario (DESIGN §6.3): on the timelines and in the report.
SCENARIO_ANNOTATIONS = REPO / "scenarios" / "pk-2024-x.annotations.toml"
# Wide enough for the event and score tables when the output is a log, not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)


def print_verdict_summary(db: Path) -> None:
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


def compute_events(db: Path) -> list[Event]:
    with Store(db) as store:
        events = detect_events(store.verdicts())
        store.replace_events(events)
    return events


def import_annotations(db: Path, path: Path) -> None:
    if not path.exists():
        return
    with Store(db) as store:
        n = store.add_annotations(load_annotations(path))
    console.print(f"{n} annotations from {markup(path.name)}")


def demo_real_data(db: Path) -> int:
    data = shared_data_dir() / "ooni"
    if not data.is_dir():
        console.print(f"[yellow]no OONI measurements at {markup(data)}: nothing to analyse[/]")
        return 0
    console.rule("Ingesting the real OONI measurements in ../shared/data")
    with Store(db) as store, ByteProgress() as bar:
        report = ingest_paths(store, [data], progress=bar)
    console.print(
        f"{report.read} records read: {report.added} added, {report.duplicates} duplicates, "
        f"{report.malformed} malformed"
    )
    for err in report.errors[:10]:
        console.print(f"  [yellow]{markup(err)}[/]", highlight=False)
    print_verdict_summary(db)
    console.print(render_events_table(compute_events(db)))
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
