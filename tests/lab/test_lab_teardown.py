"""The lab leaves nothing behind: not after a run, not after a SIGKILL and `lab down`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from blockwatch.cli import app
from blockwatch.lab import topology
from blockwatch.lab.run import run_scenario
from blockwatch.lab.topology import skip_reason as lab_skip_reason

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios" / "techniques"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=lab_skip_reason() or ""),
]


def of_run(pid: int) -> list[str]:
    return [ns for ns in topology.ours() if ns.startswith(f"{topology.PREFIX}{pid}x")]


def lab_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_a_finished_run_leaves_no_namespace_and_no_process(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_scenario(SCENARIOS / "tcp.reset.toml", out, progress=False)
    assert of_run(os.getpid()) == []
    assert lab_processes(str(out)) == []
    assert not list(topology.NETNS_ETC.glob(f"{topology.PREFIX}{os.getpid()}x*"))


def test_a_run_killed_with_sigkill_is_cleaned_up_by_lab_down(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "blockwatch", "lab", "run", str(SCENARIOS / "tls.timeout.toml")]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out), "--no-store", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (out / "truth.jsonl").exists():
            time.sleep(0.1)  # the lab is built and its rounds have begun
        assert len(of_run(proc.pid)) == 4  # inet, ctl, one censor, one vantage
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert of_run(proc.pid)  # SIGKILL leaves the namespaces behind...
    time.sleep(0.5)
    assert lab_processes(str(out)) == []  # ...but no process: they die with the runner
    result = CliRunner().invoke(app, ["lab", "down"])
    assert result.exit_code == 0, result.output
    assert f"{topology.PREFIX}{proc.pid}x" in result.output
    assert of_run(proc.pid) == []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{topology.PREFIX}{proc.pid}x" not in listed


def test_lab_down_spares_the_namespaces_of_a_run_that_is_still_alive() -> None:
    plan = topology.plan(1, f"{os.getpid()}xdead")
    topology.build(plan, ["10.66.0.10"])
    try:
        removed = topology.down()  # this process is alive: its lab is in use
        assert not set(plan.namespaces) & set(removed)
        assert set(plan.namespaces) <= set(topology.ours())
    finally:
        topology.teardown(plan)
    assert not set(plan.namespaces) & set(topology.ours())
