"""Fixtures of the store tests: real OONI measurements, and runners for the real CLI."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from blockwatch.cli import app
from blockwatch.store.store import Store


@pytest.fixture(scope="session")
def qa_documents(ooni_data: Path) -> list[dict[str, Any]]:
    """OONI's 50 QA web_connectivity measurements (real probe output)."""
    docs = [orjson.loads(p.read_bytes()) for p in sorted((ooni_data / "qa").glob("*.json"))]
    if not docs:
        pytest.skip(f"no QA measurements in {ooni_data / 'qa'}")
    return docs


def distinct_copies(
    docs: list[dict[str, Any]], n: int, tag: str = "copy"
) -> Iterator[dict[str, Any]]:
    """n real measurements, cycling through docs, each with its own report_id (so its own id)."""
    for i in range(n):
        doc = dict(docs[i % len(docs)])
        doc.pop("measurement_uid", None)
        doc["report_id"] = f"{tag}-{i:07d}"
        yield doc


def write_jsonl(path: Path, docs: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> Path:
    """Write documents one per line (gzip when the name ends in .gz)."""
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as fh:
        for doc in docs:
            fh.write(orjson.dumps(doc) + b"\n")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "bw.duckdb"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store(db) as s:
        yield s


class Cli:
    """Runs `blockwatch ...` in-process through Typer, as a user would type it."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Any:
        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()
