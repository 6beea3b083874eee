"""Fixtures of the store tests: real OONI measurements, and runners for the real CLI."""

from __future__ import annotations

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
