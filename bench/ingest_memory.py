"""Ingest memory: peak RSS of `blockwatch ingest` on records of several MiB each.

A real web_connectivity measurement (OONI QA) with its HTTP body replaced by --mib MiB of
random base64 text (it does not compress, like a large binary body), --n times, each with its
own report id, in one .jsonl file. The ingest runs as its own process (`python -m blockwatch
ingest`), and its peak resident set size is read from the kernel when it exits (getrusage of
the child): the bench's own memory is not counted. Then every record is checked to be stored.

Target (issue 11): 40 records of 8 MiB in at most 1.5 GB, all stored.

    .venv/bin/python bench/ingest_memory.py [--n 40] [--mib 8] [--smoke]
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from blockwatch.config import shared_data_dir
from blockwatch.store import Store

NEEDS: tuple[str, ...] = ("shared_data",)
TARGET_MIB = 1536
TEMPLATE = "qa/badSSLWithExpiredCertificate.json"


def template() -> dict[str, Any]:
    path = shared_data_dir() / "ooni" / TEMPLATE
    return dict(orjson.loads(path.read_bytes()))


def write_records(path: Path, n: int, mib: float) -> int:
    """n measurements of about ``mib`` MiB each, one per line; returns the file's size."""
    doc = template()
    body_bytes = int(mib * 1024 * 1024)
    with open(path, "wb") as fh:
        for i in range(n):
            body = base64.b64encode(os.urandom(body_bytes * 3 // 4)).decode()
            record = {
                **doc,
                "report_id": f"memory-bench-{i:05d}",
                "test_keys": {
                    **doc.get("test_keys", {}),
                    "requests": [{"request": {"url": doc["input"]}, "response": {"body": body}}],
                },
            }
            fh.write(orjson.dumps(record) + b"\n")
    return path.stat().st_size


def run_ingest(data: Path, db: Path) -> tuple[int, float, str]:
    """(peak RSS of the ingest process in KiB, seconds, its stdout)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "blockwatch", "ingest", str(data), "--db", str(db), "--no-progress"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"ingest failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return peak_kib, seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="records")
    parser.add_argument("--mib", type=float, default=8.0, help="MiB per record")
    parser.add_argument("--smoke", action="store_true", help="4 records of 1 MiB")
    args = parser.parse_args()
    if not (shared_data_dir() / "ooni" / TEMPLATE).is_file():
        print(f"skipped: {TEMPLATE} is absent from {shared_data_dir() / 'ooni'}")
        return
    n, mib = (4, 1.0) if args.smoke else (args.n, args.mib)
    with tempfile.TemporaryDirectory(prefix="bw-memory-") as tmp:
        data, db = Path(tmp) / "big.jsonl", Path(tmp) / "bench.duckdb"
        size = write_records(data, n, mib)
        peak_kib, seconds, out = run_ingest(data, db)
        with Store(db, read_only=True) as store:
            stored = store.count("measurements")
    print(out.strip())
    print(f"records: {n} x {mib:g} MiB ({size / 2**20:,.0f} MiB of JSON), ingest {seconds:.1f} s")
    print(f"stored: {stored}/{n}")
    peak_mib = peak_kib / 1024
    verdict = "ok" if peak_mib <= TARGET_MIB else "OVER TARGET"
    print(
        f"peak RSS of the ingest process: {peak_mib:,.0f} MiB (target <= {TARGET_MIB}: {verdict})"
    )
    if stored != n:
        sys.exit(f"only {stored} of {n} records stored")


if __name__ == "__main__":
    main()
