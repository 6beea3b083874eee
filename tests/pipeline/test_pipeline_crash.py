"""Crash safety: `blockwatch ingest` killed with SIGKILL mid-way, run again, holds each
measurement exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from blockwatch.store import Store
from storehelpers import distinct_copies, write_jsonl

N = 12_000


def _ingest_cmd(inputs: list[Path], db: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "blockwatch",
        "ingest",
        *map(str, inputs),
        "--db",
        str(db),
        "--no-progress",
    ]


def _store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


@pytest.mark.slow
def test_ingest_killed_mid_way_then_rerun_stores_every_measurement_exactly_once(
    tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    inputs = [
        write_jsonl(tmp_path / "a.jsonl.gz", distinct_copies(qa_documents, N // 2, "a")),
        write_jsonl(tmp_path / "b.jsonl", distinct_copies(qa_documents, N // 2, "b")),
    ]
    db = tmp_path / "crash.duckdb"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _ingest_cmd(inputs, db), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # Kill once a few batches are committed (the WAL/file has grown), well before the end.
    deadline = time.monotonic() + 120
    while _store_bytes(db) < 3_000_000 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed: make N larger"
    # Frozen where it stands (a stopped process keeps its lock), so it cannot finish while the
    # second process starts: while it writes, another process gets a clean "in use" error.
    proc.send_signal(signal.SIGSTOP)
    busy = subprocess.run(
        [sys.executable, "-m", "blockwatch", "verdicts", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert busy.returncode == 2
    assert "is in use by another process" in " ".join(busy.stderr.split())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # The rerun uses the writer thread: resuming must not depend on how batches are written.
    rerun = subprocess.run(
        [*_ingest_cmd(inputs, db), "--writer-thread"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    added = int(rerun.stdout.split("added: ")[1].split()[0])
    assert 0 < added < N, "the rerun should finish what the killed run left, not all of it"

    with Store(db, read_only=True) as store:
        con = store.cursor()
        assert con.execute(
            "SELECT count(*), count(DISTINCT measurement_id) FROM measurements"
        ).fetchone() == (N, N)
        assert store.count("verdicts") == N
        expected = {d["report_id"] for d in distinct_copies(qa_documents, N // 2, "a")}
        expected |= {d["report_id"] for d in distinct_copies(qa_documents, N // 2, "b")}
        got = {r[0] for r in con.execute("SELECT report_id FROM measurements").fetchall()}
        assert got == expected
        assert con.execute("SELECT bool_and(complete) FROM ingest_files").fetchone() == (True,)
