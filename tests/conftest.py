"""Shared fixtures: where the real data is, and skips with clear reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.config import shared_data_dir

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
