"""`blockwatch watch`: a vantage measuring a list on a schedule and delivering every
measurement, through a spool, to a collector (or straight into a store)."""

from __future__ import annotations

import asyncio
import random
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import typer

from blockwatch.cli.errors import cli_errors
from blockwatch.cli.events import parse_bucket
from blockwatch.cli.options import DbOption, db_path
from blockwatch.errors import ProbeError
from blockwatch.net.timeouts import Timeouts
from blockwatch.pipeline import ingest_documents
from blockwatch.probe import upload
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.runner import measure_urls
from blockwatch.probe.spool import Spool
from blockwatch.probe.testlist import read_url_list
from blockwatch.probe.upload import CollectorClient
from blockwatch.store import Store

__all__ = ["deliver", "register"]


def deliver(spool: Spool, collector: CollectorClient | None, db: Path | None) -> tuple[int, str]:
    """Send what the spool holds, oldest first; returns (delivered, why it stopped or "")."""
    if collector is not None:
        return upload.deliver(spool, collector)
    assert db is not None
    items = list(spool.pending())
    if items:
        with Store(db) as store:
            ingest_documents(store, [doc for _, doc in items])
        for path, _ in items:
            spool.done(path)
    return len(items), ""


async def _measure_round(urls: list[str], config: ProbeConfig, spool: Spool) -> int:
    n = 0
    async for doc in measure_urls(urls, config):
        spool.add(doc)
        n += 1
    return n


def _next_wait(every: float, jitter: float) -> float:
    return max(1.0, every + random.uniform(-jitter, jitter))


def _run_rounds(
    urls: list[str],
    config: ProbeConfig,
    spool: Spool,
    sink: tuple[CollectorClient | None, Path | None],
    schedule: tuple[float, float, int | None],
    stop: threading.Event,
) -> None:
    every, jitter, rounds = schedule
    done = 0
    while not stop.is_set():
        measured = asyncio.run(_measure_round(urls, config, spool))
        sent, problem = deliver(spool, *sink)
        waiting = len(spool)
        note = f"; waiting because {problem}" if problem else ""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        typer.echo(
            f"{stamp} round {done + 1}: measured {measured}, delivered {sent}, "
            f"{waiting} in the spool{note}"
        )
        done += 1
        if rounds is not None and done >= rounds:
            break
        stop.wait(_next_wait(every, jitter))


def watch(
    list_file: Path = typer.Option(..., "--list", help="Test list (CSV or URL lines)."),
    every: str = typer.Option("1h", "--every", help="Time between rounds: 30m, 1h, 1d."),
    jitter: str | None = typer.Option(None, "--jitter", help="Random shift of each round."),
    collector: str | None = typer.Option(None, "--collector", help="Collector URL to upload to."),
    db: DbOption = None,
    spool_dir: Path = typer.Option(Path("blockwatch-spool"), "--spool", help="Spool folder."),
    control: str | None = typer.Option(None, "--control", help="Control helper URL."),
    resolver: str = typer.Option("8.8.8.8", "--resolver", help="DNS-over-UDP resolver."),
    system_dns: bool = typer.Option(True, "--system-dns/--no-system-dns"),
    country: str = typer.Option("ZZ", "--country", "--cc", help="This vantage's country."),
    asn: str = typer.Option("AS0", "--asn", help="This vantage's network (AS12345)."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=512),
    rounds: int | None = typer.Option(None, "--rounds", min=1, help="Stop after N rounds."),
) -> None:
    """Measure a list every --every (± --jitter) and deliver each measurement to a collector
    (--collector) or a store (--db); the spool keeps them across restarts and outages."""
    if (collector is None) == (db is None):
        raise typer.BadParameter("give exactly one of --collector URL and --db FILE")
    period = parse_bucket(every)
    shift = parse_bucket(jitter) if jitter else None
    assert period is not None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with cli_errors():
        urls = read_url_list(list_file)
        if not urls:
            raise ProbeError(f"nothing to measure in {list_file}")
        config = ProbeConfig(
            control_url=control,
            resolver=resolver or None,
            system_resolver=system_dns,
            probe_cc=country.upper(),
            probe_asn=asn.upper() if asn.upper().startswith("AS") else f"AS{asn}",
            concurrency=concurrency,
            timeouts=Timeouts(),
        )
        client = CollectorClient(collector) if collector else None
        store = db_path(db) if db is not None else None
        sched = (period.total_seconds(), shift.total_seconds() if shift else 0.0, rounds)
        try:
            _run_rounds(urls, config, Spool(spool_dir), (client, store), sched, stop)
        finally:
            if client is not None:
                client.close()
        typer.echo(f"stopped; {len(Spool(spool_dir))} measurements left in the spool")


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""
    app.command("watch")(watch)
