"""Fixtures for probe tests: a censored loopback internet per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blockwatch.probe.testing.loopnet import LoopNet


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[LoopNet]:
    loopnet = await LoopNet.start(tmp_path)
    try:
        yield loopnet
    finally:
        await loopnet.close()
