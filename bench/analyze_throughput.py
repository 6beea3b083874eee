"""How fast do measurements go from bytes to verdicts to the store, against orjson's ceiling?

Builds a temp JSONL file of real OONI measurements (every measurement under
/work/shared/data/ooni up to 64 KiB, repeated with distinct report_ids to --n lines), then
times on one core (CPU time of this process; DuckDB limited to one thread):

  1. orjson parsing alone (the ceiling),
  2. parse + verdict (orjson, parse_measurement, analyze),
  3. parse + verdict + DuckDB ingest (Store.ingest on the file, into a temp store, inline),
  3b. the same with Store.ingest(threaded=True) (its CPU time counts both threads; its
      wall-clock time shows what a second core buys, when one is free),

and prints measurements/s and the ratios to the ceiling (targets: 2 >= 40%, 3 >= 25%).
``--profile`` adds the top functions of stage 2, to name the hot spot; ``--no-thread`` skips 3b.

    .venv/bin/python bench/analyze_throughput.py [--n 100000] [--repeat 1] [--profile] [--no-thread]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import Progress

from blockwatch.analysis.verdict import analyze
from blockwatch.config import shared_data_dir
from blockwatch.errors import MalformedMeasurement
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import RawDocument, iter_documents
from blockwatch.store.store import Store

MAX_DOC_BYTES = 64 * 1024
TARGET_VERDICT = 0.40
TARGET_INGEST = 0.25
console = Console(width=120)


def real_measurements(root: Path) -> list[dict[str, Any]]:
    """Every real measurement in the shared OONI folders that parses and is <= 64 KiB."""
    docs = []
    for sub in ("qa", "manual", "fastpath", "explorer"):
        if not (root / sub).is_dir():
            continue
        for item in iter_documents([root / sub]):
            if not isinstance(item, RawDocument):
                continue
            try:
                parse_measurement(item.doc)
            except MalformedMeasurement:
                continue
            if len(orjson.dumps(item.doc)) <= MAX_DOC_BYTES:
                docs.append(item.doc)
    return docs


def write_corpus(docs: list[dict[str, Any]], n: int, path: Path) -> int:
    """n lines cycling through docs, each with its own report_id; returns the byte size."""
    size = 0
    with open(path, "wb") as fh, Progress(console=console, transient=True) as bar:
        task = bar.add_task("writing corpus", total=n)
        for i in range(n):
            doc = dict(docs[i % len(docs)])
            doc.pop("measurement_uid", None)
            doc["report_id"] = f"bench-{i:08d}"
            line = orjson.dumps(doc) + b"\n"
            fh.write(line)
            size += len(line)
            if i % 5000 == 0:
                bar.update(task, completed=i)
    return size


def _lines(path: Path) -> Any:
    with open(path, "rb") as fh:
        yield from fh


def stage_parse(path: Path) -> int:
    n = 0
    for line in _lines(path):
        orjson.loads(line)
        n += 1
    return n


def stage_verdict(path: Path) -> int:
    n = 0
    for lineno, line in enumerate(_lines(path), start=1):
        m = parse_measurement(orjson.loads(line), str(path), lineno)
        analyze(m)
        n += 1
    return n


def stage_ingest(path: Path, db: Path, threaded: bool) -> int:
    with Store(db) as store:
        store.connect_read_only().execute("SET threads = 1")
        report = store.ingest([path], progress=False, threaded=threaded)
        if report.added != report.read:
            raise SystemExit(f"ingest lost records: {report}")
        return report.added


def fresh(db: Path) -> Path:
    """The path of an empty store (a repeated run must not find its measurements present)."""
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    return db


def timed(label: str, fn: Callable[[], int], repeat: int) -> float:
    """Run one stage (best of ``repeat``); returns measurements per CPU-second of this process
    (one core: DuckDB is limited to one thread), which other work on a shared machine distorts
    less than wall time (it still slows a shared core: use --repeat there)."""
    best_cpu, best_wall, n = float("inf"), float("inf"), 0
    for i in range(repeat):
        with console.status(f"{label} ({i + 1}/{repeat}) ..."):
            w0, c0 = time.perf_counter(), time.process_time()
            n = fn()
            best_wall = min(best_wall, time.perf_counter() - w0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    console.print(
        f"{label:<38} {n:>8,} in {best_cpu:6.1f} s CPU  {n / best_cpu:>8,.0f}/s"
        f"  (wall {best_wall:6.1f} s, {n / best_wall:>8,.0f}/s)"
    )
    return n / best_cpu


def profile_verdict(path: Path, lines: int = 10_000) -> None:
    def run() -> None:
        for lineno, line in enumerate(_lines(path), start=1):
            if lineno > lines:
                break
            analyze(parse_measurement(orjson.loads(line), str(path), lineno))

    prof = cProfile.Profile()
    prof.runcall(run)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    console.print(f"[bold]profile of parse + verdict, first {lines:,} lines (by own time)[/]")
    console.print(out.getvalue(), markup=False, highlight=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="measurements in the corpus")
    ap.add_argument("--repeat", type=int, default=1, help="best of this many runs per stage")
    ap.add_argument("--profile", action="store_true", help="profile parse + verdict")
    ap.add_argument("--no-thread", action="store_true", help="skip stage 3b (the writer thread)")
    args = ap.parse_args()

    root = shared_data_dir() / "ooni"
    docs = real_measurements(root)
    if not docs:
        raise SystemExit(f"no real measurements under {root}")
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        size = write_corpus(docs, args.n, corpus)
        console.print(
            f"corpus: {args.n:,} measurements from {len(docs)} real ones, "
            f"{size / 1e6:,.0f} MB ({size / args.n / 1024:.1f} KiB each on average)"
        )
        rep = args.repeat
        ceiling = timed("1. orjson parse (ceiling)", lambda: stage_parse(corpus), rep)
        verdict = timed("2. parse + verdict", lambda: stage_verdict(corpus), rep)
        ingest = timed(
            "3. parse + verdict + DuckDB ingest",
            lambda: stage_ingest(corpus, fresh(Path(tmp) / "b.db"), threaded=False),
            rep,
        )
        # The option: Arrow conversion and DuckDB writes in a second thread. CPU time counts
        # both threads; the wall-clock figure shows the overlap (when a second core is free).
        if not args.no_thread:
            timed(
                "3b. same, writer thread (--writer-thread)",
                lambda: stage_ingest(corpus, fresh(Path(tmp) / "c.db"), threaded=True),
                rep,
            )
        db_size = sum(p.stat().st_size for p in Path(tmp).glob("b.db*"))
        console.print(f"store size: {db_size / 1e6:,.0f} MB ({db_size / size:.0%} of the JSON)")
        for label, rate, target in (
            ("parse + verdict / ceiling", verdict, TARGET_VERDICT),
            ("full ingest / ceiling", ingest, TARGET_INGEST),
        ):
            ok = "[green]meets[/]" if rate / ceiling >= target else "[red]misses[/]"
            console.print(f"{label:<28} {rate / ceiling:6.1%}  ({ok} the {target:.0%} target)")
        if args.profile:
            profile_verdict(corpus)


if __name__ == "__main__":
    main()
