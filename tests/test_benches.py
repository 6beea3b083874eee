"""Every bench in bench/ runs end to end at a tiny size (``--smoke``), so a bench that no longer
fits the library fails here rather than at the next `make bench`.

The benches are found by globbing bench/*.py: a new one is covered as soon as it exists. It
must accept ``--smoke`` (argparse refuses an unknown flag with exit code 2), exit 0 and print
its figures. What a bench needs from the machine is declared in its module-level ``NEEDS``
tuple: "lab" (root and network namespaces, blockwatch.lab.topology.skip_reason) or
"shared_data" (the shared real-data folder, blockwatch.config.shared_data_dir); when it is
missing the test skips with the reason. A bench that finds something missing by itself prints
``skipped: <reason>`` and exits 0: that skips too, it never passes silently.

The benches talk to 127.0.0.0/8 only (web_latency, probe_throughput) or to the network
namespaces the lab bench creates and tears down itself (lab_rounds, as root).
"""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from blockwatch.config import shared_data_dir
from blockwatch.lab.topology import skip_reason as lab_skip_reason

REPO = Path(__file__).resolve().parents[1]
BENCHES = sorted((REPO / "bench").glob("*.py"))
TIMEOUT = 120  # seconds for one smoke run; each takes a few on a 2-core machine
GRACE = 20  # seconds between SIGTERM (the lab tears its namespaces down) and SIGKILL
# A line each known bench prints at the end of a good run; a new bench must print something.
LAST_FIGURES = {
    "analyze_throughput": "full ingest / ceiling",
    "collector_load": "server peak RSS",
    "events_detection": "cusum h=3.5: found",
    "lab_rounds": "measurements/s",
    "probe_throughput": "control helper RSS",
    "web_latency": "worst p95:",
}


def needs(path: Path) -> tuple[str, ...]:
    """The bench's ``NEEDS`` (a literal tuple at module level), read without importing it."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        else:
            continue
        if "NEEDS" in names and node.value is not None:
            return tuple(ast.literal_eval(node.value))
    return ()


def missing(need: str) -> str | None:
    """Why this machine lacks what a bench needs, or None."""
    if need == "lab":
        return lab_skip_reason()
    if need == "shared_data":
        path = shared_data_dir()
        if path.is_dir():
            return None
        return f"real data folder {path} is absent (set BLOCKWATCH_SHARED_DATA)"
    pytest.fail(f"unknown NEEDS entry {need!r} (known: 'lab', 'shared_data')")


def _param(path: Path) -> object:
    marks = [pytest.mark.lab] if "lab" in needs(path) else []
    return pytest.param(path, id=path.stem, marks=marks)


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """End the bench and whatever it started (its own process group): SIGTERM first, so the
    lab can take its namespaces down, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            return proc.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return "", ""


def run_smoke(path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(path), "--smoke"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # one process group: the bench and its servers
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        exited = proc.poll()
        out, err = _stop(proc)
        what = (
            "still running"
            if exited is None
            else f"exited {exited}, but what it started holds its output open"
        )
        pytest.fail(
            f"{path.name} --smoke {what} after {TIMEOUT} s\n--- stdout\n{out}\n--- stderr\n{err}"
        )
    except BaseException:  # Ctrl-C: do not leave a bench (or a lab) running
        _stop(proc)
        raise
    seconds = time.monotonic() - started
    left = _group_members(proc.pid)
    if left:  # a server the bench did not stop: end it, and fail
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{path.name} --smoke left processes running: {left}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), seconds


def _group_members(pgid: int) -> list[str]:
    """The processes still in the bench's process group (while one is, its id is not reused)."""
    found = []
    for p in psutil.process_iter(["name"]):
        try:
            if os.getpgid(p.pid) == pgid:
                found.append(f"{p.pid} {p.info['name']}")
        except OSError:
            continue
    return found


def test_benches_are_found() -> None:
    assert BENCHES, f"no bench/*.py under {REPO}"


@pytest.mark.parametrize("path", [_param(p) for p in BENCHES])
def test_bench_smoke(path: Path) -> None:
    for need in needs(path):
        reason = missing(need)
        if reason is not None:
            pytest.skip(f"{path.name} needs {need}: {reason}")
    done, seconds = run_smoke(path)
    shown = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, f"{path.name} --smoke exited {done.returncode}\n{shown}"
    for line in done.stdout.splitlines():
        if line.startswith("skipped:"):
            pytest.skip(f"{path.name}: {line.removeprefix('skipped:').strip()}")
    assert done.stdout.strip(), f"{path.name} --smoke printed nothing\n{shown}"
    assert "Traceback" not in done.stderr, f"{path.name} --smoke hid a failure\n{shown}"
    expected = LAST_FIGURES.get(path.stem)
    assert expected is None or expected in done.stdout, f"no {expected!r} line\n{shown}"
    print(f"{path.name} --smoke: {seconds:.1f} s")
