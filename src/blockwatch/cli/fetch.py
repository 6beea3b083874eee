"""`blockwatch fetch`: OONI's measurements for a query, downloaded and (with --db) ingested."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from blockwatch.cli.errors import cli_errors
from blockwatch.cli.store import print_report
from blockwatch.errors import FilterError
from blockwatch.scale import (
    DEFAULT_API_URL,
    DEFAULT_BUCKET_URL,
    FetchQuery,
    FetchReport,
    RetryPolicy,
    fetch,
)
from blockwatch.store import Store

__all__ = ["FetchBar", "register"]


class FetchBar:
    """Bytes downloaded out of the planned total, files done, measurements ingested."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self.files = self.done = self.measurements = 0
        self._progress = Progress(
            TextColumn("[bold]fetch[/]"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("files {task.fields[files]}  measurements {task.fields[measurements]}"),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self._task: TaskID = self._progress.add_task("", total=None, files="", measurements=0)

    def __enter__(self) -> FetchBar:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def _show(self, total: int | None = None) -> None:
        files, measurements = f"{self.done}/{self.files}", f"{self.measurements:,}"
        if total is None:
            self._progress.update(self._task, files=files, measurements=measurements)
        else:
            self._progress.update(self._task, total=total, files=files, measurements=measurements)

    def planned(self, files: int, nbytes: int | None) -> None:
        self.files = files
        self._show(nbytes)

    def transferred(self, nbytes: int) -> None:
        with self._lock:
            self._progress.update(self._task, advance=nbytes)

    def file_done(self, cached: bool) -> None:
        with self._lock:
            self.done += 1
            self._show()

    def ingested(self, measurements: int) -> None:
        with self._lock:
            self.measurements += measurements
            self._show()


def _summary(report: FetchReport, console: Console) -> None:
    unit = "files" if report.interface == "bucket" else "measurements"
    console.print(
        f"{report.interface}: listed {report.listed} {unit}  downloaded {report.downloaded} "
        f"({report.bytes_downloaded:,} bytes)  cached {report.cached}  "
        f"retries {report.retries}  in {report.seconds:.1f}s",
        highlight=False,
    )
    if report.ingest is not None:
        print_report(report.ingest, console)


def fetch_command(
    country: str = typer.Option(..., "--country", help="Probe country code, e.g. PK."),
    since: str = typer.Option(..., "--since", help="From this date or ISO time (UTC)."),
    until: str = typer.Option(..., "--until", help="Before this date or ISO time (UTC)."),
    out: Path = typer.Option(..., "--out", help="Cache folder (resumable: run again to go on)."),
    test: str = typer.Option("web_connectivity", "--test", help="OONI test name."),
    domain: str | None = typer.Option(None, "--domain", help="Only this host (uses the API)."),
    asn: str | None = typer.Option(None, "--asn", help="Only this network (uses the API)."),
    db: Path | None = typer.Option(None, "--db", help="Ingest into this store as files arrive."),
    bucket_url: str = typer.Option(DEFAULT_BUCKET_URL, "--bucket-url", help="Raw-data bucket."),
    api_url: str = typer.Option(DEFAULT_API_URL, "--api-url", help="OONI API."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=32, help="Downloads at once."),
    tries: int = typer.Option(6, "--tries", min=1, max=20, help="Tries per request."),
    fingerprints: Path | None = typer.Option(
        None, "--fingerprints", help="Blockpage fingerprint table (OONI CSV format)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Download OONI's measurements of a country (bucket), or of a domain or network (API),
    into a resumable cache; with --db, ingest them as they arrive."""
    try:
        query = FetchQuery.parse(
            country=country, since=since, until=until, test_name=test, domain=domain, asn=asn
        )
    except FilterError as exc:
        raise typer.BadParameter(exc.reason, param_hint=f"--{exc.name}") from exc
    with cli_errors():
        store = Store(db) if db is not None else None
        try:
            with FetchBar(enabled=progress) as bar:
                report = fetch(
                    query,
                    out,
                    store=store,
                    bucket_url=bucket_url,
                    api_url=api_url,
                    concurrency=concurrency,
                    retry=RetryPolicy(tries=tries),
                    progress=bar,
                    fingerprints=fingerprints,
                )
        finally:
            if store is not None:
                store.close()
    _summary(report, Console(stderr=False, soft_wrap=True))


def register(app: typer.Typer) -> None:
    app.command("fetch")(fetch_command)
