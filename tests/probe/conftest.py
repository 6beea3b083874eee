"""Fixtures for probe tests: a censored loopback internet per test, and on every measurement
any probe test makes, the check that its OONI summary keys are the analyzer's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from blockwatch.probe import runner
from blockwatch.probe.testing.loopnet import LoopNet
from summarykeys import summary_mismatch


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[LoopNet]:
    loopnet = await LoopNet.start(tmp_path)
    try:
        yield loopnet
    finally:
        await loopnet.close()


@pytest.fixture(autouse=True)
def summary_keys_are_the_analyzers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every measurement a probe test makes in this process carries, as its OONI summary
    keys, exactly what the analysis module computes from its stored test keys."""
    envelope = runner.envelope

    def checked(*args: Any, **kwargs: Any) -> dict[str, Any]:
        doc = envelope(*args, **kwargs)
        assert summary_mismatch(doc) == {}, doc["input"]
        return doc

    monkeypatch.setattr(runner, "envelope", checked)
