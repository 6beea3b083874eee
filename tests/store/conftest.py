"""Fixtures of the store tests: real OONI measurements, and runners for the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from storehelpers import Cli

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


@pytest.fixture
def cli() -> Cli:
    return Cli()
