"""How does ingest scale out: one process against Dask with 1 and 2 workers?

Builds gzipped JSONL files of --n measurements replicated from the real ones in
../shared/data/ooni (every measurement up to 64 KiB, planted in PK over 2024 with fresh
report ids and measurement_uids: blockwatch.scale.testing.replant), --files files of equal
size. Each copy is a pre-serialised template of a real measurement with its planted values
joined in (no JSON parsed or written per copy), gzipped by a process per core; the input is
kept under /tmp/bw-scale-input (--cache) and reused by later runs (1M: ~1.9 GB, built in
about 3 minutes here). Then, each in a fresh child process and into a fresh store:

  1. the single-process path (pipeline.ingest_paths, inline writer),
  2. Dask, one worker   (ingest --engine dask: a LocalCluster, one single-threaded worker
     process; the scheduler and the store's loader run in the child beside it),
  3. Dask, two workers.

It prints measurements/s (wall clock of the ingest; the
cluster's start and stop shown apart), the peak RSS of each worker
process (ru_maxrss, read on the workers at the end), the loader's peak RSS, the store's bytes
on disk, and the speed-up of two workers over one (target >= 1.5x at full size, on 2 cores
with the scheduler beside the workers; per-worker peak RSS <= 2 GB at 1M). Each store is then
checked to hold --n verdicts. ``--repeat N`` runs N pairs of Dask runs (one worker, then
two) and checks the speed-up on their median: on a shared machine a neighbour's burst can land
on either run of a pair. ``--smoke``: 600 measurements in 4 files, same path, targets not
checked. Without the shared data folder it says so and exits 0.

    .venv/bin/python bench/scale.py [--n 1000000] [--files 16] [--cache DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NEEDS = ("shared_data",)
MAX_DOC_BYTES = 64 * 1024
TARGET_SPEEDUP = 1.5
TARGET_WORKER_RSS = 2 * 1024**3
DEFAULTS = {"n": 1_000_000, "files": 16}
SMOKE = {"n": 600, "files": 4}
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "bw-scale-input"
MODES = (
    ("single process", "single", 0),
    ("dask, 1 worker", "dask", 1),
    ("dask, 2 workers", "dask", 2),
)


def _real_texts() -> list[bytes]:
    from blockwatch.config import shared_data_dir
    from blockwatch.scale.testing import load_real_measurements

    ooni = shared_data_dir() / "ooni"
    return [t for t in load_real_measurements(ooni) if len(t) <= MAX_DOC_BYTES]


def _build_file(job: tuple[Path, int, int]) -> int:
    """One input file (in a pool process): replanted copies, gzipped a few MiB at a time."""
    from blockwatch.scale.testing import replant_iter

    path, count, seed = job
    since, until = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    copies = replant_iter(_real_texts(), count, country="PK", since=since, until=until, seed=seed)
    part = path.with_name(path.name + ".part")
    with gzip.open(part, "wb", compresslevel=1) as out:
        buffer: list[bytes] = []
        for text in copies:
            buffer += (text, b"\n")
            if len(buffer) >= 512:
                out.write(b"".join(buffer))
                buffer = []
        out.write(b"".join(buffer))
    part.rename(path)
    return path.stat().st_size


def build_input(folder: Path, n: int, files: int) -> int:
    """Write ``n`` replanted measurements into ``files`` gzip JSONL files, a process per core;
    returns their bytes. File i holds replant(seed=i + 1)'s copies, so a build is repeatable."""
    import os
    from multiprocessing import get_context

    per_file = -(-n // files)
    jobs = [
        (folder / f"part-{index:04d}.jsonl.gz", min(per_file, n - index * per_file), index + 1)
        for index in range(files)
        if n - index * per_file > 0
    ]
    # fork: spawn's resource tracker would outlive this process by a moment (and a bench
    # must leave no process behind); nothing here has started a thread yet.
    with get_context("fork").Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        return sum(pool.map(_build_file, jobs, chunksize=1))


def cached_input(root: Path, n: int, files: int) -> Path:
    """The input for (n, files) under ``root``, built once and reused by later runs (a marker
    file says a build finished; an unfinished one is built again)."""
    folder = root / f"n{n}-f{files}-v2"
    done = folder / "complete"
    if done.exists():
        print(f"input: {n:,} measurements in {files} files, reused from {folder}")
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    started = time.perf_counter()
    nbytes = build_input(folder, n, files)
    done.write_text(f"{nbytes}\n")
    print(
        f"input: {n:,} measurements in {files} files, {_mib(nbytes)} gzipped"
        f" (built in {time.perf_counter() - started:.0f} s, kept in {folder})"
    )
    return folder


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_mode(mode: str, workers: int, inputs: Path, db: Path) -> dict[str, Any]:
    """One run in this (child) process: the figures as a dict."""
    from blockwatch.pipeline import ingest_paths
    from blockwatch.store import Store

    started = time.perf_counter()
    ingest_seconds = 0.0
    ingest_cpu = 0.0
    worker_rss: list[int] = []
    worker_cpu = 0.0
    with Store(db) as store:
        if mode == "single":
            report = ingest_paths(store, [inputs])
        else:
            from blockwatch.scale.dask_engine import dask_client, ingest_dask

            with dask_client(None, workers) as client:
                address = client.scheduler.address
                begun, cpu = time.perf_counter(), _cpu_seconds()
                report = ingest_dask(store, [inputs], scheduler=address)
                ingest_seconds = time.perf_counter() - begun
                ingest_cpu = _cpu_seconds() - cpu
                worker_rss = sorted(client.run(_peak_rss).values())
                worker_cpu = sum(client.run(_cpu_seconds).values())
        verdicts = store.count("verdicts")
    seconds = time.perf_counter() - started
    return {
        "ingest_seconds": ingest_seconds or seconds,
        "read": report.read,
        "added": report.added,
        "verdicts": verdicts,
        "seconds": seconds,
        "loader_rss": _peak_rss(),
        "worker_rss": worker_rss,
        "worker_cpu": worker_cpu,
        "loader_cpu": _cpu_seconds(),
        "loader_ingest_cpu": ingest_cpu,
        "db_bytes": db.stat().st_size,
    }


def _wait_for_stragglers(timeout: float = 20.0) -> None:
    """Wait until the processes a run started (multiprocessing's resource tracker outlives a
    Dask run's process by a moment) have left this process group."""
    import os

    import psutil

    group, me = os.getpgid(0), os.getpid()
    if group != me:
        return  # not a group of our own (a shell's pipeline): nothing to tell apart
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = []
        for proc in psutil.process_iter():
            try:
                if proc.pid != me and os.getpgid(proc.pid) == group:
                    left.append(proc)
            except OSError:
                continue
        if not left:
            return
        psutil.wait_procs(left, timeout=0.5)


def _child(mode: str, workers: int, inputs: Path, db: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--workers", str(workers)]
    done = subprocess.run(
        [*cmd, "--input", str(inputs), "--db", str(db)], capture_output=True, text=True, check=False
    )
    _wait_for_stragglers()
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _mib(n: float) -> str:
    return f"{n / 1024**2:,.0f} MiB"


def _show(label: str, r: dict[str, Any]) -> None:
    rate = r["read"] / r["ingest_seconds"] if r["ingest_seconds"] else 0.0
    rss = ", ".join(_mib(x) for x in r["worker_rss"]) or "-"
    print(
        f"{label:16s} {rate:9,.0f} measurements/s  {r['ingest_seconds']:7.1f} s "
        f"({r['seconds']:.1f} s with the cluster's start and stop)  "
        f"worker peak RSS {rss}  loader peak RSS {_mib(r['loader_rss'])}  "
        f"store {_mib(r['db_bytes'])}"
    )
    per = 1e6 / max(1, r["read"])
    during = r["loader_ingest_cpu"]
    print(
        f"{'':16s} CPU per measurement: workers {r['worker_cpu'] * per:,.0f} us,"
        f" this process (loader, scheduler, client) {r['loader_cpu'] * per:,.0f} us"
        + (f", of which during the ingest {during * per:,.0f} us" if during else ""),
        flush=True,
    )


def _runs(inputs: Path, tmp: Path, repeat: int) -> list[tuple[str, dict[str, Any]]]:
    """The single-process run, then ``repeat`` pairs of Dask runs (one worker, then two),
    each in a fresh child process and store; shown as they end."""
    plan = [MODES[0], *(MODES[1:] * repeat)]
    results = []
    for label, mode, workers in plan:
        r = _child(mode, workers, inputs, tmp / f"{mode}{workers}.duckdb")
        (tmp / f"{mode}{workers}.duckdb").unlink(missing_ok=True)
        _show(label, r)
        results.append((label, r))
    return results


def _speedups(results: list[tuple[str, dict[str, Any]]]) -> list[float]:
    """Two workers against one, pair by pair (each pair ran one after the other)."""
    ones = [r["ingest_seconds"] for label, r in results if label == MODES[1][0]]
    twos = [r["ingest_seconds"] for label, r in results if label == MODES[2][0]]
    return [one / two if two else 0.0 for one, two in zip(ones, twos, strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--n", type=int)
    parser.add_argument("--files", type=int)
    parser.add_argument(
        "--cache", type=Path, help=f"Where inputs are kept between runs (default {DEFAULT_CACHE})."
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="Pairs of Dask runs; the target is on their median."
    )
    parser.add_argument("--child", choices=["single", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_mode(args.child, args.workers, args.input, args.db)))
        return 0
    from blockwatch.config import shared_data_dir

    if not (shared_data_dir() / "ooni").is_dir():
        print(f"skipped: real data folder {shared_data_dir()} is absent")
        return 0
    size = SMOKE if args.smoke else DEFAULTS
    n, files = args.n or size["n"], args.files or size["files"]
    with tempfile.TemporaryDirectory(prefix="bw-scale-") as tmp:
        # The full-size input takes minutes to build: kept for later runs unless --smoke.
        root = args.cache or (Path(tmp) if args.smoke else DEFAULT_CACHE)
        inputs = cached_input(root, n, files)
        results = _runs(inputs, Path(tmp), max(1, args.repeat))
    for label, r in results:
        if r["verdicts"] != n or r["read"] != n:
            print(f"error: {label} stored {r['verdicts']} verdicts of {n} ({r['read']} read)")
            return 1
    speedups = _speedups(results)
    speedup = statistics.median(speedups)
    worst = max(x for _, r in results for x in r["worker_rss"] or [0])
    each = (
        f" (pairs: {', '.join(f'{x:.2f}x' for x in speedups)}; median)" if args.repeat > 1 else ""
    )
    print(
        f"dask speed-up 2 workers / 1: {speedup:.2f}x{each} (target >= {TARGET_SPEEDUP}x)"
        f"  worst worker peak RSS {_mib(worst)} (target <= {_mib(TARGET_WORKER_RSS)})"
    )
    if not args.smoke and (speedup < TARGET_SPEEDUP or worst > TARGET_WORKER_RSS):
        print("target missed (on a shared machine, figures vary: see docs/scale.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
