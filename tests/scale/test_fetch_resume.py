"""A `blockwatch fetch` process SIGKILLed mid-way resumes and ends with the store an
uninterrupted run makes; the command's errors are one clear line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blockwatch.scale.testing import Faults, OoniMimic
from scalehelpers import store_contents
from storehelpers import Cli

QUERY = ("--country", "PK", "--since", "2024-02-01", "--until", "2024-02-15")


def _fetch_args(url: str, out: Path, db: Path) -> list[str]:
    return [*QUERY, "--bucket-url", url, "--out", str(out), "--db", str(db), "--no-progress"]


def _run(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "blockwatch", "fetch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )


@pytest.mark.slow
def test_a_fetch_killed_mid_way_resumes_and_ends_with_the_same_store(
    archive_texts: list[bytes], tmp_path: Path
) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    with OoniMimic(archive_texts) as mimic:
        args = _fetch_args(mimic.url, whole / "out", whole / "bw.duckdb")
        assert _run(args).wait(timeout=120) == 0
    # The same archive, trickling: the first run is killed with files done, others partial.
    with OoniMimic(archive_texts, faults=Faults(bytes_per_second=20_000)) as mimic:
        args = _fetch_args(mimic.url, killed / "out", killed / "bw.duckdb")
        proc = _run([*args, "--concurrency", "2"])
        deadline, first_done = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            done = list((killed / "out").rglob("*.jsonl.gz"))
            parts = list((killed / "out").rglob("*.part"))
            if done and first_done is None:
                first_done = time.monotonic()
            # Past fetch's ingest interval (2 s) after the first file: some are in the store.
            if first_done and parts and time.monotonic() > first_done + 6:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert done and parts, "the first run ended before it could be killed mid-way"
        partial = store_contents(killed / "bw.duckdb")["measurements"]
        assert 0 < len(partial) < len(store_contents(whole / "bw.duckdb")["measurements"])
        mimic.state.faults.bytes_per_second = None
        before = len(mimic.log)
        resumed = _run(args)
        _, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err.decode()
        ranged = [status for path, status, _ in mimic.log[before:] if status == 206]
    assert ranged, "no partial file was resumed with a Range request"
    assert store_contents(killed / "bw.duckdb") == store_contents(whole / "bw.duckdb")
    assert store_contents(whole / "bw.duckdb")["measurements"]


def test_the_command_reports_a_bad_country_and_an_inverted_range_as_usage_errors(
    tmp_path: Path,
) -> None:
    cli = Cli()
    bad = cli("fetch", "--country", "Pakistan", *QUERY[2:], "--out", tmp_path)
    assert bad.exit_code == 2 and "two-letter country code" in bad.output
    inverted = cli(
        "fetch", "--country", "PK", "--since", "2024-03-01", "--until", "2024-02-01",
        "--out", tmp_path,
    )  # fmt: skip
    assert inverted.exit_code == 2 and "must be after since" in inverted.output


def test_the_command_names_an_unreachable_service_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = Cli()(
        "fetch", *QUERY, "--bucket-url", f"http://127.0.0.1:{port}", "--out", tmp_path,
        "--tries", "1", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"error: http://127.0.0.1:{port}/: gave up after 1 tries: cannot connect" in " ".join(
        result.output.split()
    )


def test_the_command_fetches_and_ingests_and_says_what_it_did(
    archive_texts: list[bytes], tmp_path: Path
) -> None:
    with OoniMimic(archive_texts) as mimic:
        result = Cli()(
            "fetch", *QUERY, "--bucket-url", mimic.url, "--out", tmp_path / "out",
            "--db", tmp_path / "bw.duckdb", "--no-progress",
        )  # fmt: skip
        held = mimic.holds(
            "PK", *[__import__("blockwatch.times").times.parse_bound(d) for d in QUERY[3::2]]
        )
    assert result.exit_code == 0, result.output
    assert "bucket: listed" in result.output and f"added: {len(held)}" in result.output
