"""`blockwatch probe`: measure URLs from this network."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from blockwatch.cli.errors import cli_errors
from blockwatch.cli.options import DbOption, db_path
from blockwatch.cli.session import run_session, verdict_table
from blockwatch.errors import ProbeError
from blockwatch.net.timeouts import Timeouts
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.targets import load_targets
from blockwatch.probe.testlist import read_url_list
from blockwatch.probe.tools import TOOL_TESTS, count_jobs, measure_tool
from blockwatch.terminal import markup

__all__ = ["register"]


def probe(
    test: str = typer.Option(
        "web_connectivity",
        "--test",
        help=f"web_connectivity (URLs), or a tool test: {', '.join(TOOL_TESTS)}.",
    ),
    targets: Path | None = typer.Option(
        None, "--targets", help="Tool tests' targets (TOML); default: the shipped list."
    ),
    url: list[str] = typer.Option([], "--url", help="A URL to measure (repeatable)."),
    list_file: Path | None = typer.Option(
        None, "--list", help="Citizen Lab test-list CSV (url, category_code, ...) or URL lines."
    ),
    control: str | None = typer.Option(None, "--control", help="Control helper URL."),
    resolver: str = typer.Option("8.8.8.8", "--resolver", help="DNS-over-UDP resolver ip[:port]."),
    system_dns: bool = typer.Option(True, "--system-dns/--no-system-dns", help="Also getaddrinfo."),
    country: str = typer.Option(
        "ZZ", "--country", "--cc", help="This vantage's country code (--cc: older spelling)."
    ),
    asn: str = typer.Option("AS0", "--asn", help="This vantage's network (AS12345)."),
    geoip_db: Path | None = typer.Option(None, "--geoip-db", help="MaxMind ASN .mmdb file."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="Trust this CA bundle only."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=512),
    timeout: float = typer.Option(1.0, "--timeout-scale", help="Multiply every timeout."),
    out: Path = typer.Option(Path("measurements.jsonl"), "--out", help="OONI JSONL output."),
    db: DbOption = None,
    no_store: bool = typer.Option(False, "--no-store", help="Do not ingest into the store."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Measure URLs the way OONI's Web Connectivity does (or reach a tool: --test tor,
    openvpn, signal, telegram, whatsapp); write OONI JSONL; show verdicts."""
    console = Console()
    with cli_errors():
        if test != "web_connectivity" and test not in TOOL_TESTS:
            raise ProbeError(f"unknown test {test!r}: web_connectivity or {', '.join(TOOL_TESTS)}")
        urls = list(dict.fromkeys(url))
        if list_file is not None:
            urls += [u for u in read_url_list(list_file) if u not in urls]
        if not urls and test == "web_connectivity":
            raise ProbeError("nothing to measure: give --url or --list")
        asn_text = asn if asn.upper().startswith("AS") else f"AS{asn}"
        config = ProbeConfig(
            control_url=control,
            resolver=resolver or None,
            system_resolver=system_dns,
            probe_cc=country.upper(),
            probe_asn=asn_text.upper(),
            ca_file=str(ca_file) if ca_file else None,
            geoip_db=str(geoip_db) if geoip_db else None,
            concurrency=concurrency,
            timeouts=Timeouts().scaled(timeout),
        )
        store = None if no_store else db_path(db)
        source, total = None, None
        if test != "web_connectivity":
            tool_targets = load_targets(targets)
            total = count_jobs(test, tool_targets)
            if not total:
                raise ProbeError(f"the targets file lists nothing for {test}")
            source = lambda: measure_tool(test, tool_targets, config)  # noqa: E731
        result = run_session(
            urls,
            config,
            out,
            db=store,
            console=console,
            progress=progress,
            source=source,
            total=total,
        )
        order = {u: i for i, u in enumerate(urls)}  # the table follows the input order
        console.print(verdict_table(sorted(result.verdicts, key=lambda v: order.get(v.input, 0))))
        stored = "" if result.ingested is None else f", {result.ingested} new in the store"
        console.print(f"{len(result.documents)} measurements written to {markup(out)}{stored}")
        if result.interrupted:
            console.print("interrupted: kept every finished measurement")
            raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""
    app.command("probe")(probe)
