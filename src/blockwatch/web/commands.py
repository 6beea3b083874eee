"""CLI commands of the web stage: `blockwatch serve` and `blockwatch report`."""

from __future__ import annotations

from pathlib import Path

import typer

from blockwatch.clierrors import cli_errors
from blockwatch.config import default_db_path

DB = typer.Option(
    None, "--db", help="The store (DuckDB file); default: BLOCKWATCH_DB or the user data dir."
)


def serve(
    db: Path | None = DB,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """Serve the dashboard (read-only) over the store."""
    with cli_errors():
        from blockwatch.web.app import build_app

        app = build_app(db or default_db_path())
        import uvicorn

        typer.echo(f"blockwatch dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
        uvicorn.run(app, host=host, port=port, log_level="warning")


def report(
    db: Path | None = DB,
    event: str | None = typer.Option(None, "--event", help="Report on this event id."),
    country: str | None = typer.Option(None, "--country", help="Country code (with --domain)."),
    domain: str | None = typer.Option(None, "--domain", help="Domain (with --country)."),
    date_from: str | None = typer.Option(None, "--from", help="Start date (with --country)."),
    date_to: str | None = typer.Option(None, "--to", help="End date (with --country)."),
    out: Path | None = typer.Option(None, "--out", help="FILE.html or FILE.pdf to write."),
    verify: Path | None = typer.Option(
        None, "--verify", help="Recompute the SHA-256 of an HTML report from the store."
    ),
    data_out: Path | None = typer.Option(
        None, "--data-out", help="With --verify: write the canonical JSONL the digest is over."
    ),
) -> None:
    """Write a self-contained evidence report (HTML or PDF), or verify one."""
    with cli_errors():
        from blockwatch.web import report as rep

        store = db or default_db_path()
        if verify is not None:
            if data_out is not None:
                digest = rep.write_data(store, verify, data_out)
                typer.echo(f"wrote {data_out} (sha256 {digest})")
            result = rep.verify(verify, store)
            typer.echo(f"stated     {result.stated}\nrecomputed {result.recomputed}")
            if not result.ok:
                typer.echo(f"MISMATCH over {result.measurements} measurements", err=True)
                raise typer.Exit(1)
            typer.echo(f"OK: {result.measurements} measurements unchanged")
            return
        if out is None:
            raise rep.ReportError("--out FILE.html|FILE.pdf is required")
        path = rep.write_report(store, out, event_id=event, country=country, domain=domain,
                                date_from=date_from, date_to=date_to)
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("serve")(serve)
    app.command("report")(report)
