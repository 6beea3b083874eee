"""Fixtures of the web tests: a real store (see webstore.py) and a real dashboard server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from webstore import add_crowded_events, fill_store, serving


@pytest.fixture(scope="session")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webstore") / "store.duckdb"
    fill_store(path)
    return path


@pytest.fixture(scope="session")
def server(store_path: Path) -> Iterator[str]:
    with serving(store_path) as base:
        yield base


@pytest.fixture()
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def crowded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web store plus events crowded together on one chart and one still ongoing."""
    path = tmp_path_factory.mktemp("crowded") / "store.duckdb"
    fill_store(path)
    add_crowded_events(path)
    with serving(path) as base:
        yield base
