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
    read_only: bool = typer.Option(
        False, "--read-only", help="Dashboard only: no collector, no alerts, store untouched."
    ),
    url: str | None = typer.Option(
        None, "--url", help="The public URL of this server, for links in feeds and alerts."
    ),
    rate: float = typer.Option(200.0, "--rate", help="Collector: requests/s per client."),
    max_body: int = typer.Option(
        8 * 1024 * 1024, "--max-body", help="Collector: largest submission in bytes."
    ),
    events_every: float = typer.Option(
        2.0, "--events-every", help="Seconds between event updates of the countries touched."
    ),
) -> None:
    """Serve the observatory: dashboard, API, OONI collector (/report), feeds and webhooks.
    This process owns the store (the single writer); --read-only serves the dashboard only."""
    # The web framework and the ASGI server are heavy: only this command needs them.
    from blockwatch.cli.observatory import observatory_app
    from blockwatch.collector import Limits
    from blockwatch.web.app import build_app
    from blockwatch.web.app import serve as serve_app

    base = url or f"http://{host}:{port}"
    with cli_errors():
        if read_only:
            app = build_app(db_path(db))
        else:
            limits = Limits(rate=rate, burst=max(1, int(rate * 2)), max_body=max_body)
            app = observatory_app(
                db_path(db), base_url=base, limits=limits, events_every=events_every
            )
        what = "dashboard" if read_only else "observatory (dashboard, collector, feeds)"
        typer.echo(f"blockwatch {what} on {base}/ (Ctrl-C to stop)", err=True)
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
