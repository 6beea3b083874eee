"""`blockwatch serve` and `blockwatch report`."""

from __future__ import annotations

from pathlib import Path

import typer

from blockwatch.cli.errors import cli_errors
from blockwatch.cli.options import (
    AsnOption,
    CountryOption,
    DbOption,
    DomainOption,
    SinceOption,
    UntilOption,
    db_path,
    make_filter,
)
from blockwatch.web import report as rep

__all__ = ["register"]


def serve(
    db: DbOption = None,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    report_workers: int = typer.Option(
        2, "--report-workers", min=1, help="Processes building evidence reports and PDFs."
    ),
    report_queue: int = typer.Option(
        8, "--report-queue", min=0, help="Reports that may wait for a worker (then 503)."
    ),
    csv_streams: int = typer.Option(
        4, "--csv-streams", min=1, help="CSV exports streaming at once (then 503)."
    ),
    cache_mb: int = typer.Option(
        64, "--cache-mb", min=0, help="Memory for finished page and API answers (0: none)."
    ),
) -> None:
    """Serve the dashboard (read-only) over the store."""
    # The web framework and the ASGI server are heavy: only this command needs them.
    from blockwatch.web.app import build_app
    from blockwatch.web.app import serve as serve_app

    with cli_errors():
        app = build_app(
            db_path(db),
            report_workers=report_workers,
            report_queue=report_queue,
            csv_streams=csv_streams,
            cache_bytes=cache_mb * 1024 * 1024,
        )
        typer.echo(f"blockwatch dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
        serve_app(app, host, port)


def _verify(store: Path, report_file: Path, data_out: Path | None) -> None:
    if data_out is not None:
        digest = rep.write_data(store, report_file, data_out)
        typer.echo(f"wrote {data_out} (sha256 {digest})")
    result = rep.verify(report_file, store)
    typer.echo(f"stated     {result.stated}\nrecomputed {result.recomputed}")
    if not result.ok:
        typer.echo(f"MISMATCH over {result.measurements} measurements", err=True)
        raise typer.Exit(1)
    typer.echo(f"OK: {result.measurements} measurements unchanged")


def report(
    db: DbOption = None,
    event: str | None = typer.Option(None, "--event", help="Report on this event id."),
    country: CountryOption = None,
    asn: AsnOption = None,
    domain: DomainOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    date_from: str | None = typer.Option(None, "--from", hidden=True, help="Old: --since."),
    date_to: str | None = typer.Option(
        None, "--to", hidden=True, help="Old: a date here includes that whole day."
    ),
    out: Path | None = typer.Option(None, "--out", help="FILE.html or FILE.pdf to write."),
    verify: Path | None = typer.Option(
        None, "--verify", help="Recompute the SHA-256 of an HTML report from the store."
    ),
    data_out: Path | None = typer.Option(
        None, "--data-out", help="With --verify: write the canonical JSONL the digest is over."
    ),
) -> None:
    """Write a self-contained evidence report (HTML or PDF) on an event, or on a domain in a
    country (--country with --domain, narrowed by --asn --since --until); or verify one."""
    scope = make_filter(
        country=country,
        asn=asn,
        domain=domain,
        since=since or date_from,
        until=until,
        to=date_to,
    )
    with cli_errors():
        store = db_path(db)
        if verify is not None:
            _verify(store, verify, data_out)
            return
        if out is None:
            raise rep.ReportError("--out FILE.html|FILE.pdf is required")
        path = rep.write_report(store, out, event_id=event, scope=scope)
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command("serve")(serve)
    app.command("report")(report)
