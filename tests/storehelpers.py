"""Helpers shared by the store tests and the benchmark: real measurements, many times over,
and verdicts made up for a test."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from blockwatch.analysis.records import Verdict
from blockwatch.cli import app

T0 = datetime(2024, 2, 17, tzinfo=UTC)


def distinct_copies(
    docs: list[dict[str, Any]], n: int, tag: str = "copy"
) -> Iterator[dict[str, Any]]:
    """n real measurements, cycling through docs, each with its own report_id (so its own id)."""
    for i in range(n):
        doc = dict(docs[i % len(docs)])
        doc.pop("measurement_uid", None)
        doc["report_id"] = f"{tag}-{i:07d}"
        yield doc


def write_jsonl(path: Path, docs: Iterable[dict[str, Any]]) -> Path:
    """Write documents one per line (gzip when the name ends in .gz)."""
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as fh:
        for doc in docs:
            fh.write(orjson.dumps(doc) + b"\n")
    return path


class Cli:
    """Runs `blockwatch ...` in-process through Typer, as a user would type it."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Any:
        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def verdict(
    i: int, cc: str = "PK", asn: str = "AS17557", domain: str = "x.com", outcome: str = "blocked"
) -> Verdict:
    """Verdict number ``i``: ``i`` hours after T0, blocked by a TLS reset unless ``outcome``
    says otherwise."""
    return Verdict(
        measurement_id=f"m{i:04d}",
        measured_at=T0 + timedelta(hours=i),
        probe_cc=cc,
        probe_asn=asn,
        input=f"https://{domain}/",
        domain=domain,
        test_name="web_connectivity",
        outcome=outcome,  # type: ignore[arg-type]
        method="tls.reset" if outcome == "blocked" else None,
        confidence=0.9,
        evidence=("probe: connection_reset after ClientHello",),
    )
