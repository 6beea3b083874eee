"""The lab drives a standing observatory: each network's probe uploads its rounds to a
collector on the lab's uncensored side, and the webhook alerts are scored against truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.lab.run import run_scenario
from blockwatch.lab.topology import skip_reason as lab_skip_reason
from blockwatch.store import Store

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TECHNIQUES = sorted(p.stem for p in (SCENARIOS / "techniques").glob("*.toml"))
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=lab_skip_reason() or ""),
]


def _observe(scenario: Path, out: Path) -> None:
    summary = run_scenario(scenario, out, db=out / "obs.duckdb", progress=False, observatory=True)
    alerts = summary.alerts
    assert alerts is not None
    # Every true block alerted in time, every end alerted, nothing false, nothing twice.
    assert alerts.ok, str(alerts)
    assert alerts.on_time == alerts.blocks
    # Every measurement reached the store through the collector, once.
    with Store(out / "obs.duckdb", read_only=True) as store:
        assert store.count("measurements") == summary.measurements
    assert not list((out / "lab").glob("spool*/*.json"))  # nothing left behind


@pytest.mark.parametrize("name", TECHNIQUES)
def test_each_technique_is_alerted_by_a_live_observatory(name: str, tmp_path: Path) -> None:
    _observe(SCENARIOS / "techniques" / f"{name}.toml", tmp_path / name)


@pytest.mark.slow
def test_pk_2024_x_is_alerted_by_a_live_observatory(tmp_path: Path) -> None:
    _observe(SCENARIOS / "pk-2024-x.toml", tmp_path / "pk")
