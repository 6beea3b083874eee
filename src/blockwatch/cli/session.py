"""A probe run from the command line: progress bar, JSONL out, verdict table, store ingest.

Every finished measurement is written (and flushed) as it arrives, so Ctrl-C keeps them;
the verdicts and the ingest then cover exactly what was written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from blockwatch.analysis.records import Verdict
from blockwatch.analysis.verdict import analyze_document
from blockwatch.errors import BlockwatchError
from blockwatch.ooni.reader import RawDocument
from blockwatch.pipeline import ingest_documents
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.runner import measure_urls
from blockwatch.store import Store
from blockwatch.terminal import cell, markup

__all__ = ["SessionResult", "analyse", "run_session", "verdict_table"]


@dataclass
class SessionResult:
    out: Path
    documents: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    interrupted: bool = False
    ingested: int | None = None


def run_session(
    urls: list[str],
    config: ProbeConfig,
    out: Path,
    *,
    db: Path | None = None,
    console: Console | None = None,
    progress: bool = True,
    source: Callable[[], AsyncIterator[dict[str, Any]]] | None = None,
    total: int | None = None,
) -> SessionResult:
    """Measure ``urls``, write ``out`` (OONI JSONL), analyse, and ingest into the store at
    ``db`` when given. KeyboardInterrupt stops measuring and keeps what finished.
    ``source`` replaces the URL measurements by another test's (``total`` of them)."""
    console = console or Console(stderr=True)
    result = SessionResult(out)
    try:
        fh = out.open("wb")
    except OSError as exc:
        raise BlockwatchError(f"cannot write {out}: {exc}") from exc
    bar = Progress(
        TextColumn("measuring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        disable=not progress,
    )

    async def measure() -> None:
        task = bar.add_task("probe", total=len(urls) if total is None else total, last="")
        documents = source() if source is not None else measure_urls(urls, config)
        async for doc in documents:
            fh.write(orjson.dumps(doc) + b"\n")
            fh.flush()
            result.documents.append(doc)
            bar.update(task, advance=1, last=markup(str(doc.get("input", ""))[:60]))

    with fh, bar:
        try:
            asyncio.run(measure())
        except KeyboardInterrupt:
            result.interrupted = True
    result.verdicts = analyse(result.documents, str(out))
    if db is not None and result.documents:
        with Store(db) as store:
            report = ingest_documents(
                store, (RawDocument(str(out), i + 1, d) for i, d in enumerate(result.documents))
            )
        result.ingested = report.added
    return result


def analyse(documents: list[dict[str, Any]], source: str) -> list[Verdict]:
    """The analyzer's verdict for each document (what `blockwatch ingest` gives)."""
    out = []
    for i, doc in enumerate(documents):
        try:
            out.append(analyze_document(doc, source, i + 1))
        except BlockwatchError:
            continue  # unreadable record: the ingest reports it; the table skips it
    return out


def verdict_table(verdicts: list[Verdict]) -> Table:
    """Each verdict on a line: input, outcome (coloured), method, confidence, first evidence."""
    table = Table("input", "outcome", "method", "conf.", "evidence", title="verdicts")
    colours = {"ok": "green", "blocked": "red", "down": "yellow", "inconclusive": "dim"}
    for v in verdicts:
        table.add_row(
            cell(v.input or v.domain),
            cell(v.outcome, style=colours.get(v.outcome, "white")),
            cell(v.method or ""),
            f"{v.confidence:.2f}",
            cell(v.evidence[0] if v.evidence else ""),
        )
    return table
