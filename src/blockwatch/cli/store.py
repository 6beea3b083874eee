"""`blockwatch ingest`, `blockwatch verdicts` and `blockwatch reanalyze`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from blockwatch.analysis.records import Verdict
from blockwatch.cli.errors import cli_errors, stderr
from blockwatch.cli.options import (
    AsnOption,
    CountryOption,
    DbOption,
    DomainOption,
    SinceOption,
    UntilOption,
    country_hint,
    db_path,
    existing_db,
    make_filter,
)
from blockwatch.cli.progress import ByteProgress
from blockwatch.errors import MalformedMeasurement
from blockwatch.pipeline import IngestReport, ReanalyzeReport, ingest_paths, reanalyze
from blockwatch.store import Filter, Reads, Store
from blockwatch.store.export import FORMATS, write_verdicts
from blockwatch.terminal import cell, clean, markup, terminal_stream
from blockwatch.times import iso_z

__all__ = ["nothing_usable", "print_report", "register"]

ERRORS_SHOWN = 20
CHECKPOINT_FAILED = 3  # exit status: ingested, but the store file is behind its WAL
TABLE_ROWS = 200


def print_report(report: IngestReport, console: Console) -> None:
    """The ingest summary, then each bad record as file:line: reason (up to a cap)."""
    rate = report.read / report.seconds if report.seconds > 0 else 0.0
    console.print(
        f"files: {report.files} ({report.files_skipped} unchanged, skipped)  "
        f"read: {report.read}  added: {report.added}  duplicates: {report.duplicates}  "
        f"conflicts: {report.conflicts}  malformed: {report.malformed}  "
        f"analysis failed: {report.analysis_failed}  unreadable: {report.unreadable}  "
        f"in {report.seconds:.1f}s ({rate:,.0f} records/s)",
        highlight=False,
    )
    _print_errors(report.errors, report.problems, console)


def _print_errors(errors: list[MalformedMeasurement], total: int, console: Console) -> None:
    """Each bad record as file:line: reason, up to a cap, then how many more there were."""
    for err in errors[:ERRORS_SHOWN]:
        console.print(f"  {clean(err)}", highlight=False, markup=False)
    hidden = total - min(len(errors), ERRORS_SHOWN)
    if hidden > 0:
        console.print(f"  ... and {hidden} more", highlight=False)


def ingest(
    paths: list[Path] = typer.Argument(..., help="OONI files or directories to ingest."),
    db: DbOption = None,
    fingerprints: Path | None = typer.Option(
        None, "--fingerprints", help="Blockpage fingerprint table (OONI CSV format)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    writer_thread: bool = typer.Option(
        False, "--writer-thread", help="Compress and write on a second core (when one is free)."
    ),
    engine: str = typer.Option(
        "local", "--engine", help="local (this process) | dask (read + verdict on Dask)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler, e.g. tcp://HOST:8786 (default: a local one)."
    ),
    workers: int = typer.Option(
        2, "--workers", min=1, max=256, help="Worker processes of the local Dask cluster."
    ),
    parts: Path | None = typer.Option(
        None, "--parts", help="Folder for the Dask workers' Parquet parts (shared with them)."
    ),
    external: Path | None = typer.Option(
        None,
        "--external",
        help="With --engine dask: keep the rows here as Parquet (by day and country), read"
        " through views, instead of loading them into the store.",
    ),
) -> None:
    """Read OONI measurements into the store (idempotent, resumable); report bad records."""
    if engine not in ("local", "dask"):
        raise typer.BadParameter("must be local or dask", param_hint="--engine")
    if external is not None and engine != "dask":
        raise typer.BadParameter("needs --engine dask", param_hint="--external")
    with cli_errors(), Store(db_path(db)) as store, ByteProgress(enabled=progress) as bar:
        if engine == "dask":
            # Dask takes about a second to import: only this engine loads it.
            from blockwatch.scale.dask_engine import ingest_dask

            report = ingest_dask(
                store,
                paths,
                scheduler=scheduler,
                workers=workers,
                fingerprints=fingerprints,
                parts_dir=parts,
                external=external,
                progress=bar,
            )
        else:
            report = ingest_paths(
                store, paths, fingerprints=fingerprints, progress=bar, threaded=writer_thread
            )
    print_report(report, Console(stderr=False, soft_wrap=True))
    if report.checkpoint_error is not None:
        # Everything was committed, but not yet into the store file: say where it is.
        stderr.print(f"[bold red]error:[/] {markup(report.checkpoint_error)}", highlight=False)
        raise typer.Exit(CHECKPOINT_FAILED)
    if nothing_usable(report):
        stderr.print(
            "[bold red]error:[/] no measurement was added: every record read was malformed"
            " or could not be analysed",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def nothing_usable(report: IngestReport) -> bool:
    """Records or paths were looked at and every one was bad: the ingest failed."""
    bad = report.malformed + report.analysis_failed + report.unreadable
    return report.added == 0 and report.duplicates == 0 and bad > 0


def _table(verdicts: Sequence[Verdict], more: bool, console: Console) -> None:
    table = Table(
        "measured at", "cc", "asn", "domain", "outcome", "method", "conf.", "confirmed", "OONI"
    )
    for v in verdicts:
        table.add_row(
            iso_z(v.measured_at),
            cell(v.probe_cc),
            cell(v.probe_asn),
            cell(v.domain),
            cell(v.outcome),
            cell(v.method or ""),
            f"{v.confidence:.2f}",
            "yes" if v.confirmed else "",
            # OONI's own stored verdict, flagged where it and ours disagree.
            cell(f"{v.ooni_blocking or '-'}{' (differs)' if v.ooni_disagrees else ''}"),
        )
    console.print(table)
    if more:
        console.print(f"(first {len(verdicts)} shown: use --limit or --format jsonl for all)")


def verdicts(
    db: DbOption = None,
    country: CountryOption = None,
    asn: AsnOption = None,
    domain: DomainOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    outcome: str | None = typer.Option(None, "--outcome", help="ok|blocked|down|inconclusive"),
    method: str | None = typer.Option(None, "--method", help="A blocking method, e.g. tls.reset."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="At most this many."),
    fmt: str = typer.Option("table", "--format", help="table | jsonl | csv"),
) -> None:
    """List verdicts from the store, filtered, as a table, JSONL or CSV."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    shown = limit if limit is not None or fmt != "table" else TABLE_ROWS + 1
    flt = make_filter(
        country=country,
        asn=asn,
        domain=domain,
        since=since,
        until=until,
        outcome=outcome,
        method=method,
        limit=shown,
    )
    with cli_errors(), Store(db_path(db), read_only=True) as store:
        if fmt == "table":
            found = store.verdicts(flt)
            more = limit is None and len(found) > TABLE_ROWS
            # Piped output gets a wide console: a table truncated to 80 columns loses data.
            console = Console(width=None if sys.stdout.isatty() else 160)
            _table(found[:TABLE_ROWS] if more else found, more, console)
            if not found and flt.country is not None:
                known = [row["probe_cc"] for row in Reads(store).countries(Filter())]
                hint = country_hint(country, known)
                if hint:
                    Console(stderr=True).print(f"hint: {markup(hint)}", highlight=False)
        else:
            write_verdicts(store.iter_verdicts(flt), fmt, terminal_stream(sys.stdout))


def print_reanalysis(report: ReanalyzeReport, console: Console) -> None:
    """The re-analysis summary, what changed from what to what, and the failures."""
    rate = report.read / report.seconds if report.seconds > 0 else 0.0
    console.print(
        f"read: {report.read}  changed: {report.changed}  unchanged: {report.unchanged}  "
        f"failed: {report.failed}  without raw JSON: {report.no_text}  "
        f"in {report.seconds:.1f}s ({rate:,.0f} measurements/s)",
        highlight=False,
    )
    if report.transitions:
        table = Table("before", "after", "measurements")
        for (before, after), count in report.transitions.most_common(ERRORS_SHOWN):
            was = "no verdict" if before is None else " ".join(filter(None, before))
            table.add_row(cell(was), cell(" ".join(filter(None, after))), str(count))
        console.print(table)
        rules = Table("rule", "now decides", "no longer decides", title="per rule")
        for rule, gained, lost in report.per_rule()[:ERRORS_SHOWN]:
            rules.add_row(rule, str(gained), str(lost))
        console.print(rules)
        console.print("events were found on the old verdicts: run `blockwatch events` again")
    _print_errors(report.errors, report.failed, console)


def reanalyze_command(
    db: DbOption = None,
    fingerprints: Path | None = typer.Option(
        None, "--fingerprints", help="Blockpage fingerprint table (OONI CSV format)."
    ),
    country: CountryOption = None,
    asn: AsnOption = None,
    domain: DomainOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run the stored measurements through the current rules again (all at once: readers see
    the old verdicts or the new ones); say what changed."""
    flt = make_filter(country=country, asn=asn, domain=domain, since=since, until=until)
    bar = Progress(
        TextColumn("[bold]reanalyze[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    task = bar.add_task("measurements", total=None)

    def on_page(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with cli_errors(), Store(existing_db(db)) as store, bar:
        report = reanalyze(store, flt, fingerprints=fingerprints, on_page=on_page)
    print_reanalysis(report, Console(stderr=False, soft_wrap=True))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("ingest")(ingest)
    app.command("verdicts")(verdicts)
    app.command("reanalyze")(reanalyze_command)
