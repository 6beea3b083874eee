"""Shared fixtures: where the real data is, and skips with clear reasons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.config import shared_data_dir
from blockwatch.store import Store
from storehelpers import Cli

REPO = Path(__file__).resolve().parents[1]
TEST_OUTPUT = REPO / "test-output"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder (../shared/data); skips when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (set BLOCKWATCH_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def ooni_data(shared_data: Path) -> Path:
    path = shared_data / "ooni"
    if not path.is_dir():
        pytest.skip(f"OONI data folder {path} is absent")
    return path


@pytest.fixture(scope="session")
def test_output() -> Path:
    """A folder for artefacts a person may want to look at (screenshots, reports)."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


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
