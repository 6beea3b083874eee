"""Many small files: ingest of --n one-measurement files against the same records in one file.

Each file holds one real measurement (OONI QA, a distinct report id each) as one JSONL line;
the single file holds all of them. Both are ingested into fresh stores in this process, and
the wall times are printed with their ratio. The per-file cost is the file bookkeeping
(``ingest_files``: size, mtime, lines done, complete) plus opening each file.

Issue 11 measured 68 s for 20,000 files against 2.5 s for one file (87% of it one
``ingest_files`` row written per file).

    .venv/bin/python bench/ingest_small_files.py [--n 20000] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from blockwatch.config import shared_data_dir
from blockwatch.pipeline import ingest_paths
from blockwatch.store import Store

NEEDS: tuple[str, ...] = ("shared_data",)


def documents(n: int) -> list[bytes]:
    qa = sorted((shared_data_dir() / "ooni" / "qa").glob("*.json"))
    docs: list[dict[str, Any]] = [orjson.loads(p.read_bytes()) for p in qa]
    lines = []
    for i in range(n):
        doc = dict(docs[i % len(docs)])
        doc["report_id"] = f"small-files-{i:07d}"
        lines.append(orjson.dumps(doc) + b"\n")
    return lines


def timed_ingest(paths: list[Path], db: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with Store(db) as store:
        report = ingest_paths(store, paths)
    return time.perf_counter() - started, report.added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="files (and records)")
    parser.add_argument("--smoke", action="store_true", help="200 files")
    args = parser.parse_args()
    if not (shared_data_dir() / "ooni" / "qa").is_dir():
        print(f"skipped: no OONI QA measurements under {shared_data_dir()}")
        return
    n = 200 if args.smoke else args.n
    lines = documents(n)
    with tempfile.TemporaryDirectory(prefix="bw-small-") as tmp:
        root = Path(tmp)
        many = root / "many"
        for i, line in enumerate(lines):
            folder = many / f"{i // 1000:03d}"  # OONI's layout: folders of files
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"m{i:07d}.jsonl").write_bytes(line)
        one = root / "one.jsonl"
        one.write_bytes(b"".join(lines))
        t_one, added_one = timed_ingest([one], root / "one.duckdb")
        t_many, added_many = timed_ingest([many], root / "many.duckdb")
        t_again, _ = timed_ingest([many], root / "many.duckdb")
    print(f"one file of {n:,} records: {t_one:.2f} s ({added_one:,} added)")
    print(f"{n:,} files of one record: {t_many:.2f} s ({added_many:,} added)")
    print(f"the {n:,} files again (all unchanged, skipped): {t_again:.2f} s")
    print(f"many files / one file: {t_many / t_one:.1f}x")
    if added_one != n or added_many != n:
        sys.exit(f"expected {n} added each time, got {added_one} and {added_many}")


if __name__ == "__main__":
    main()
