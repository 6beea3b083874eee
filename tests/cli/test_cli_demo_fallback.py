"""`make demo` without root: the fallback over ../shared/data says which data it used and
shows only events found in real measurements, never OONI Probe's QA runs of simulated
censorship (no report id, stamped IT) as censorship in Italy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from blockwatch.analysis.events import detect_events
from blockwatch.cli import demo
from blockwatch.config import shared_data_dir
from blockwatch.store import Store


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The no-root path run directly (as root the demo would build the lab instead)."""
    if not (shared_data_dir() / "ooni" / "qa").is_dir():
        pytest.skip(f"no OONI data at {shared_data_dir()} (the shared data folder is absent)")
    db = tmp_path_factory.mktemp("demo") / "bw.duckdb"
    console = Console(record=True, width=200, force_terminal=False)
    saved, demo.console = demo.console, console
    try:
        assert demo.demo_real_data(db) == 0
    finally:
        demo.console = saved
    return console.export_text(), db


def test_the_fallback_says_which_data_it_used(fallback: tuple[str, Path]) -> None:
    out, _ = fallback
    assert f"data used: {shared_data_dir() / 'ooni'}" in out
    assert "qa/ (50 files)" in out
    assert re.search(r"left out of the events: \d+ measurements with no report id", out)
    assert "50 from qa/" in out


def test_the_qa_simulations_make_no_event_and_none_is_shown(fallback: tuple[str, Path]) -> None:
    out, db = fallback
    assert "censorship in IT" not in out
    assert not re.search(r"\bIT\b.*(bit\.ly|www\.example\.com)", out)
    with Store(db, read_only=True) as store:
        events = store.events()
        simulated = set(demo.unpublished(store))
    assert len(simulated) >= 50
    assert not {m for e in events for m in e.measurements} & simulated
    assert all(e.probe_cc != "IT" for e in events)
    assert re.search(r"events found in the \d+ real measurements", out)


def test_the_qa_runs_alone_would_have_made_italian_censorship_events(
    fallback: tuple[str, Path],
) -> None:
    """What the fallback used to print: the simulations do make events when let in."""
    _, db = fallback
    with Store(db, read_only=True) as store:
        simulated = set(demo.unpublished(store))
        verdicts = [v for v in store.verdicts() if v.measurement_id in simulated]
    events = detect_events(verdicts)
    assert any(e.kind == "censorship" and e.probe_cc == "IT" for e in events)
