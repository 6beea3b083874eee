"""`blockwatch serve` and `blockwatch report`."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

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
    writable_out,
)
from blockwatch.config import asn_db_path
from blockwatch.errors import BlockwatchError
from blockwatch.signing import key_id, load_private_key
from blockwatch.terminal import clean
from blockwatch.web import report as rep
from blockwatch.web import report_check as check

__all__ = ["AsnDbOption", "check_port", "register"]

AsnDbOption = Annotated[
    Path | None,
    typer.Option(
        "--asn-db",
        help="ASN database naming the networks no measurement names (iptoasn.com TSV or a"
        " MaxMind ASN .mmdb; default: BLOCKWATCH_ASN_DB).",
    ),
]


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
    page_workers: int | None = typer.Option(
        None,
        "--page-workers",
        min=0,
        help="Processes building page and API answers (0: the serving process itself;"
        " default: the cores beyond two, at most 4).",
    ),
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
        64, "--cache-mb", min=0, help="Memory for kept answers and query rows (0: none)."
    ),
    services: Path | None = typer.Option(
        None,
        "--services",
        help="Services table (TOML) for the home page's answers (default: BLOCKWATCH_SERVICES,"
        " else the shipped services.toml).",
    ),
    asn_db: AsnDbOption = None,
) -> None:
    """Serve the observatory: dashboard, API, OONI collector (/report), feeds and webhooks.
    This process owns the store (the single writer); --read-only serves the dashboard only."""
    # The web framework and the ASGI server are heavy: only this command needs them.
    from blockwatch.cli.observatory import observatory_app
    from blockwatch.collector import Limits
    from blockwatch.web.app import build_app
    from blockwatch.web.app import serve as serve_app
    from blockwatch.web.workers import default_page_workers

    base = url or f"http://{host}:{port}"
    with cli_errors():
        check_port(host, port)  # before anything is opened or printed
        lanes = {
            "page_workers": default_page_workers() if page_workers is None else page_workers,
            "report_workers": report_workers,
            "report_queue": report_queue,
            "csv_streams": csv_streams,
            "cache_bytes": cache_mb * 1024 * 1024,
        }
        names = asn_db_path(asn_db)
        if read_only:
            app = build_app(db_path(db), None, services=services, asn_db=names, **lanes)
        else:
            limits = Limits(rate=rate, burst=max(1, int(rate * 2)), max_body=max_body)
            app = observatory_app(
                db_path(db),
                base_url=base,
                limits=limits,
                events_every=events_every,
                lanes=lanes,
                services=services,
                asn_db=names,
            )
        what = "dashboard" if read_only else "observatory (dashboard, collector, feeds)"
        typer.echo(f"blockwatch {what} on {clean(base)}/ (Ctrl-C to stop)", err=True)
        serve_app(app, host, port)


def check_port(host: str, port: int) -> None:
    """Refuse a port another server listens on, before the URL is printed as if served."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockwatchError(f"cannot listen on {host!r}: {exc}") from exc
    with socket.socket(family, kind, proto) as sock:
        # As uvicorn binds: a port whose old connections linger (TIME_WAIT) is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise BlockwatchError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                " (another server on that port? --port chooses another)"
            ) from exc


def _verify(
    store: Path | None, report_file: Path, pubkey: Path | None, data_out: Path | None
) -> None:
    """Print what was checked and exit 0 (OK) or 1 (MISMATCH)."""
    result = check.verify(report_file, store, public_key=pubkey)
    typer.echo(f"stated     {clean(result.stated or '-')}")
    typer.echo(f"recomputed {clean(result.recomputed or '-')}")
    if pubkey is not None and result.signed_by:
        typer.echo(f"signature  valid, key {clean(result.signed_by)}")
    elif pubkey is None:
        claim = f"signed by key {clean(result.claimed_key)}" if result.claimed_key else "unsigned"
        typer.echo(f"signature  not checked ({claim}; --pubkey KEY.pub checks it)")
    if data_out is not None and store is not None:
        if result.recomputed is None:
            typer.echo(f"not written: {clean(data_out)} (the stored data is unreadable)")
        else:
            digest = check.write_data(store, report_file, data_out)
            typer.echo(f"wrote {clean(data_out)} (sha256 {digest})")
    for problem in result.problems:
        typer.echo(f"  {clean(problem)}", err=True)
    if not result.ok:
        typer.echo(f"MISMATCH over {result.measurements} measurements", err=True)
        raise typer.Exit(1)
    signed = f", signed by key {clean(result.signed_by)}" if result.signed_by else ""
    if store is None:
        typer.echo(f"OK: page unchanged{signed} (data not checked: --page-only)")
    else:
        typer.echo(f"OK: {result.measurements} measurements unchanged; page unchanged{signed}")


def _check_modes(
    verify: Path | None,
    out: Path | None,
    sign: Path | None,
    pubkey: Path | None,
    page_only: bool,
    data_out: Path | None,
) -> None:
    """Options of one mode (write, or --verify) given in the other are a usage error."""
    if verify is None:
        for name, given in (("--pubkey", pubkey), ("--page-only", page_only),
                            ("--data-out", data_out)):  # fmt: skip
            if given:
                raise typer.BadParameter("only with --verify", param_hint=name)
        return
    for name, given in (("--sign", sign), ("--out", out)):
        if given:
            raise typer.BadParameter("not with --verify", param_hint=name)
    if page_only and data_out is not None:
        raise typer.BadParameter("--page-only reads no data to write", param_hint="--data-out")


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
    paper: str = typer.Option("a4", "--paper", help="Page size of the report: a4 or letter."),
    verify: Path | None = typer.Option(
        None, "--verify", help="Check an HTML report: its data against the store, its page."
    ),
    data_out: Path | None = typer.Option(
        None, "--data-out", help="With --verify: write the canonical JSONL the digest is over."
    ),
    sign: Path | None = typer.Option(
        None, "--sign", help="Sign the report with this private key (`blockwatch keys new`)."
    ),
    pubkey: Path | None = typer.Option(
        None, "--pubkey", help="With --verify: the report must be signed by this public key."
    ),
    page_only: bool = typer.Option(
        False, "--page-only", help="With --verify: check the page and signature, not the data."
    ),
    asn_db: AsnDbOption = None,
) -> None:
    """Write a self-contained evidence report (HTML or PDF) on an event, or on a domain in a
    country (--country with --domain, narrowed by --asn --since --until), signed with --sign;
    or verify one (exit 0: OK, 1: MISMATCH, 2: error)."""
    scope = make_filter(
        country=country,
        asn=asn,
        domain=domain,
        since=since or date_from,
        until=until,
        to=date_to,
    )
    _check_modes(verify, out, sign, pubkey, page_only, data_out)
    with cli_errors():
        store = db_path(db)
        if verify is not None:
            _verify(None if page_only else store, verify, pubkey, data_out)
            return
        if out is None:
            raise rep.ReportError("--out FILE.html|FILE.pdf is required")
        signer = load_private_key(sign) if sign is not None else None
        target = writable_out(out)
        path = rep.write_report(
            store,
            target,
            event_id=event,
            scope=scope,
            signer=signer,
            paper=paper,
            asn_db=asn_db_path(asn_db),
        )
        signed = f", signed with key {key_id(signer.public_key())}" if signer else ""
        typer.echo(f"wrote {clean(path)}{signed}")


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command("serve")(serve)
    app.command("report")(report)
