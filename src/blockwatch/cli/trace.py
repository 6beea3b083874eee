"""`blockwatch trace URL`: at which hop of the path the URL's blocking happens (root);
`blockwatch lab trace`: the same from a vantage of a scenario's lab."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from blockwatch.asn_names import open_asn_db
from blockwatch.cli.errors import cli_errors
from blockwatch.cli.lab import lab_app
from blockwatch.cli.options import DbOption, db_path
from blockwatch.cli.web import AsnDbOption
from blockwatch.config import asn_db_path
from blockwatch.errors import ProbeError
from blockwatch.lab.tracing import trace_in_lab
from blockwatch.ooni.reader import RawDocument
from blockwatch.pipeline import ingest_documents
from blockwatch.probe.testing.mmdb import write_asn_db
from blockwatch.probe.trace import TraceConfig, trace_url
from blockwatch.store import Store
from blockwatch.terminal import markup
from blockwatch.times import parse_bound

__all__ = ["register"]


def trace(
    url: str = typer.Argument(..., help="The http(s) URL whose blocking to locate."),
    max_ttl: int = typer.Option(16, "--max-ttl", min=1, max=64),
    wait: float = typer.Option(1.0, "--wait", min=0.05, max=10, help="Seconds per probe."),
    control_domain: str = typer.Option(
        "example.com", "--control-domain", help="The innocuous name of the control packets."
    ),
    resolver: str | None = typer.Option(
        None, "--resolver", help="The resolver to check (default: the system's)."
    ),
    dns_server: str | None = typer.Option(
        None, "--dns-server", help="An outside DNS server: the truth, and in-path injection."
    ),
    address: str | None = typer.Option(None, "--address", help="Trace this address instead."),
    country: str = typer.Option("ZZ", "--country", help="This vantage's country code."),
    asn: str = typer.Option("AS0", "--asn", help="This vantage's network (AS12345)."),
    network_name: str | None = typer.Option(None, "--network-name", help="Its ISP's name."),
    asn_db: AsnDbOption = None,
    geoip_db: Path | None = typer.Option(None, "--geoip-db", hidden=True, help="Old: --asn-db."),
    out: Path | None = typer.Option(None, "--out", help="Append the measurement (JSONL)."),
    db: DbOption = None,
    no_store: bool = typer.Option(False, "--no-store", help="Do not ingest into the store."),
    as_json: bool = typer.Option(False, "--json", help="Print the measurement as JSON."),
) -> None:
    """Repeat the triggering packet with rising TTLs; name the hop where tampering starts."""
    console = Console()
    with cli_errors():
        if os.geteuid() != 0:
            raise ProbeError("trace needs root (a raw socket reads the routers' ICMP errors)")
        asn_text = asn.upper() if asn.upper().startswith("AS") else f"AS{asn}"
        config = TraceConfig(
            max_ttl=max_ttl, wait=wait, control_domain=control_domain, resolver=resolver,
            dns_server=dns_server, address=address, probe_cc=country.upper(),
            probe_asn=asn_text, probe_network_name=network_name,
        )  # fmt: skip
        db_file = asn_db_path(asn_db or geoip_db)
        geo = open_asn_db(db_file) if db_file else None
        try:
            doc = trace_url(url, config, geo.lookup if geo else None)
        finally:
            if geo is not None:
                geo.close()
        if out is not None:
            with out.open("ab") as fh:
                fh.write(orjson.dumps(doc) + b"\n")
        added = None
        if not no_store:
            with Store(db_path(db)) as store:
                added = ingest_documents(store, [RawDocument(str(out or "trace"), 1, doc)]).added
        if as_json:
            typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
            return
        _show(console, doc, added)


def _show(console: Console, doc: dict[str, object], added: int | None) -> None:
    keys = doc["test_keys"]
    assert isinstance(keys, dict)
    table = Table("ttl", "path", "tcp", "payload", title=markup(str(doc["input"])))
    payload = keys["traces"].get("tls") or keys["traces"].get("http") or {}
    syn = {r["ttl"]: r for r in keys["traces"].get("tcp", {}).get("test", [])}
    test = {r["ttl"]: r for r in payload.get("test", [])}
    for hop in keys["path"]:
        ttl = hop["ttl"]
        table.add_row(str(ttl), _cell(hop), _cell(syn.get(ttl)), _cell(test.get(ttl)))
    console.print(table)
    console.print(markup(str(keys["summary"])))
    if added is not None:
        console.print(f"stored ({added} new measurement)")


def _cell(reply: dict[str, object] | None) -> str:
    if reply is None:
        return ""
    where = f" {reply['address']}" if reply.get("address") else ""
    return markup(f"{reply['kind']}{where}")


def lab_trace(
    scenario: Path = typer.Argument(..., help="Scenario file (TOML, see docs/scenarios.md)."),
    urls: list[str] = typer.Argument(..., help="The URLs to trace."),
    network: str = typer.Option(..., "--network", help="The scenario network to trace from."),
    at: str | None = typer.Option(
        None, "--at", help="The censors as at this scenario time (default: its first round)."
    ),
    out: Path = typer.Option(Path("runs/trace"), "--out", help="Work folder; traces.jsonl."),
    wait: float = typer.Option(0.5, "--wait", min=0.05, max=10, help="Seconds per probe."),
    db: DbOption = None,
    no_store: bool = typer.Option(False, "--no-store", help="Do not ingest into the store."),
) -> None:
    """Build the scenario's lab and run `blockwatch trace` from one network's vantage."""
    console = Console()
    with cli_errors():
        moment = parse_bound(at) if at else None
        docs, _ = trace_in_lab(
            scenario, network, urls, out, moment, ("--wait", str(wait)), write_asn_db
        )
        with (out / "traces.jsonl").open("ab") as fh:
            fh.write(b"".join(orjson.dumps(d) + b"\n" for d in docs))
        for doc in docs:
            console.print(f"{markup(str(doc['input']))}: {markup(doc['test_keys']['summary'])}")
        if not no_store:
            source = str(out / "traces.jsonl")
            with Store(db_path(db)) as store:
                raw = [RawDocument(source, i + 1, d) for i, d in enumerate(docs)]
                added = ingest_documents(store, raw).added
            console.print(f"stored ({added} new measurements)")


def register(app: typer.Typer) -> None:
    """Add `trace` to the main app and `lab trace` to the lab's commands."""
    app.command("trace")(trace)
    lab_app.command("trace")(lab_trace)
