"""Crash safety: `blockwatch ingest` killed with SIGKILL mid-way, run again, holds each
measurement exactly once."""

from __future__ import annotations

import os
import shutil
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


FULL_DISK_RECORDS = 3_000  # ~3.6 MB of WAL; the checkpoint then needs ~5 MB more
FULL_DISK_MIB = 6


def _can_mount_tmpfs() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1) to mount a small tmpfs"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        timeout=30,
    )
    return None if probe.returncode == 0 else f"cannot mount a tmpfs: {probe.stderr!r}"


def test_a_final_checkpoint_that_fails_on_a_full_disk_exits_non_zero_and_the_wal_holds_it_all(
    tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    reason = _can_mount_tmpfs()
    if reason is not None:
        pytest.skip(reason)
    data = write_jsonl(
        tmp_path / "m.jsonl", distinct_copies(qa_documents, FULL_DISK_RECORDS, "full")
    )
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    kept.mkdir()
    # A tmpfs the WAL fits on but the checkpoint's copy of it does not (a real ENOSPC, as
    # root, in a mount namespace of its own); what is on it is copied out before it goes.
    ingest = " ".join(_ingest_cmd([data], disk / "x.duckdb"))
    script = (
        f"mount -t tmpfs -o size={FULL_DISK_MIB}m tmpfs {disk} && {{ {ingest}; "
        f"echo rc=$?; df -k {disk} | tail -1; cp -a {disk}/. {kept}/; }}"
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert "rc=3" in done.stdout, (done.stdout, done.stderr)
    assert f"added: {FULL_DISK_RECORDS}" in done.stdout
    message = " ".join(done.stderr.split())
    assert "the final checkpoint failed" in message and "No space left on device" in message
    assert f"the data is intact in the write-ahead log {disk / 'x.duckdb.wal'}" in message
    assert "Traceback" not in done.stderr

    # On a disk with room, opening the store replays the WAL: every measurement is there.
    with Store(kept / "x.duckdb") as store:
        assert store.count("measurements") == FULL_DISK_RECORDS
        assert store.count("verdicts") == FULL_DISK_RECORDS
