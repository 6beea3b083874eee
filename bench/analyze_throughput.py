"""How fast do measurements go from bytes to verdicts to the store, against orjson's ceiling?

Builds temp JSONL files of real OONI measurements (every measurement under
/work/shared/data/ooni up to 64 KiB, repeated with distinct report_ids to --n lines, split
into parts of --part lines), then times on one core (CPU time of this process; DuckDB limited
to one thread):

  1. orjson parsing alone (the ceiling),
  2. parse + verdict (orjson, parse_measurement, analyze),
  3. parse + verdict + DuckDB ingest (pipeline.ingest_paths, inline, into a fresh temp store
     that stays open across the parts; opening and closing it, checkpoint included, are
     counted),
  3b. the same with ingest_paths(threaded=True) (its CPU time counts both threads; its
      wall-clock time shows what a second core buys, when one is free),

and prints measurements/s and the ratios to the ceiling (targets: 2 >= 40%, 3 >= 25%).

The stages take turns part by part (parse part 1, verdict part 1, ingest part 1, parse part
2, ...), so a slow minute on a shared machine slows all three alike instead of whichever stage
it fell on; each stage's time is its sum over the parts, and ``--repeat`` keeps each stage's
best round. ``--profile`` adds the top functions of stage 2; ``--no-thread`` skips 3b.
``--smoke``: the same at 300 measurements in 3 parts, one round, in a few seconds (the
targets are not checked). Without the shared data folder it says so and exits 0.

    .venv/bin/python bench/analyze_throughput.py [--n 100000] [--repeat 3] [--profile] [--no-thread]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
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
from blockwatch.pipeline import ingest_paths
from blockwatch.store import Store

# What tests/test_benches.py checks before running this bench with --smoke.
NEEDS = ("shared_data",)
MAX_DOC_BYTES = 64 * 1024
TARGET_VERDICT = 0.40
TARGET_INGEST = 0.25
# Full size: --n, --part, --repeat; --smoke: a few hundred measurements, 3 parts, one round.
DEFAULTS = {"n": 100_000, "part": 5_000, "repeat": 2}
SMOKE = {"n": 300, "part": 100, "repeat": 1}
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


def write_corpus(docs: list[dict[str, Any]], n: int, folder: Path, part: int) -> list[Path]:
    """n lines cycling through docs, each with its own report_id, in files of ``part`` lines."""
    paths: list[Path] = []
    fh = None
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("writing corpus", total=n)
        for i in range(n):
            if i % part == 0:
                if fh is not None:
                    fh.close()
                paths.append(folder / f"corpus-{len(paths):03d}.jsonl")
                fh = open(paths[-1], "wb")  # noqa: SIM115 - closed in turn below
            doc = dict(docs[i % len(docs)])
            doc.pop("measurement_uid", None)
            doc["report_id"] = f"bench-{i:08d}"
            fh.write(orjson.dumps(doc) + b"\n")
            if i % 5000 == 0:
                bar.update(task, completed=i)
    if fh is not None:
        fh.close()
    return paths


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


class IngestStage:
    """Stage 3 over the parts: one store, opened at the first part, closed after the last."""

    def __init__(self, db: Path, threaded: bool) -> None:
        self.db = db
        self.threaded = threaded
        self.store: Store | None = None

    def reset(self) -> None:
        """Untimed: a repeated round must not find its measurements present."""
        for p in self.db.parent.glob(self.db.name + "*"):
            p.unlink()

    def open(self) -> None:
        self.store = Store(self.db)
        self.store.cursor().execute("SET threads = 1")

    def part(self, path: Path) -> int:
        assert self.store is not None
        report = ingest_paths(self.store, [path], threaded=self.threaded)
        if report.added != report.read:
            raise SystemExit(f"ingest lost records: {report}")
        return report.added

    def close(self) -> None:
        assert self.store is not None
        self.store.close()


class Clock:
    """CPU and wall time summed over the calls of one stage."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0
        self.n = 0

    def run(self, fn: Callable[[], Any], count: bool = True) -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        self.cpu += time.process_time() - c0
        self.wall += time.perf_counter() - w0
        if count:
            self.n += n


def run_rounds(parts: list[Path], stages: dict[str, Any], repeat: int) -> dict[str, Clock]:
    """Each stage's best round (least CPU), the stages taking turns part by part."""
    best: dict[str, Clock] = {}
    total = len(parts) * repeat
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("timing the stages, part by part", total=total)
        for _ in range(repeat):
            clocks = {name: Clock() for name in stages}
            for name, stage in stages.items():
                if isinstance(stage, IngestStage):
                    stage.reset()
                    clocks[name].run(stage.open, count=False)
            for path in parts:
                for name, stage in stages.items():
                    fn = stage.part if isinstance(stage, IngestStage) else stage
                    clocks[name].run(lambda fn=fn, path=path: fn(path))
                bar.advance(task)
            for name, stage in stages.items():
                if isinstance(stage, IngestStage):
                    clocks[name].run(stage.close, count=False)
            for name, clock in clocks.items():
                if name not in best or clock.cpu < best[name].cpu:
                    best[name] = clock
    return best


def report_stage(label: str, clock: Clock) -> float:
    """Print one stage's figures; returns measurements per CPU-second."""
    cpu, wall = max(clock.cpu, 1e-9), max(clock.wall, 1e-9)  # a tiny run may measure 0
    console.print(
        f"{label:<38} {clock.n:>8,} in {clock.cpu:6.1f} s CPU  {clock.n / cpu:>8,.0f}/s"
        f"  (wall {clock.wall:6.1f} s, {clock.n / wall:>8,.0f}/s)"
    )
    return clock.n / cpu


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, help=f"measurements in the corpus ({DEFAULTS['n']:,})")
    ap.add_argument("--part", type=int, help=f"measurements per part ({DEFAULTS['part']:,})")
    ap.add_argument(
        "--repeat", type=int, help=f"rounds; each stage's best is kept ({DEFAULTS['repeat']})"
    )
    ap.add_argument("--profile", action="store_true", help="profile parse + verdict")
    ap.add_argument("--no-thread", action="store_true", help="skip stage 3b (the writer thread)")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help=f"tiny run ({SMOKE['n']} measurements, {SMOKE['repeat']} round); targets not checked",
    )
    args = ap.parse_args()
    for key, value in (SMOKE if args.smoke else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.n, args.part, args.repeat) < 1:
        ap.error("--n, --part and --repeat must be at least 1")

    root = shared_data_dir() / "ooni"
    if not root.is_dir():
        print(f"skipped: no real OONI data folder {root} (set BLOCKWATCH_SHARED_DATA)")
        return 0
    docs = real_measurements(root)
    if not docs:
        raise SystemExit(f"no real measurements under {root}")
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
        folder = Path(tmp)
        parts = write_corpus(docs, args.n, folder, args.part)
        size = sum(p.stat().st_size for p in parts)
        console.print(
            f"corpus: {args.n:,} measurements from {len(docs)} real ones, "
            f"{size / 1e6:,.0f} MB ({size / args.n / 1024:.1f} KiB each on average), "
            f"{len(parts)} parts"
        )
        stages: dict[str, Any] = {
            "1. orjson parse (ceiling)": stage_parse,
            "2. parse + verdict": stage_verdict,
            "3. parse + verdict + DuckDB ingest": IngestStage(folder / "b.db", threaded=False),
        }
        # The option: Arrow conversion and DuckDB writes in a second thread. CPU time counts
        # both threads; the wall-clock figure shows the overlap (when a second core is free).
        if not args.no_thread:
            stages["3b. same, writer thread (--writer-thread)"] = IngestStage(
                folder / "c.db", threaded=True
            )
        best = run_rounds(parts, stages, args.repeat)
        rates = {name: report_stage(name, clock) for name, clock in best.items()}
        ceiling = rates["1. orjson parse (ceiling)"]
        db_size = sum(p.stat().st_size for p in folder.glob("b.db*"))
        console.print(f"store size: {db_size / 1e6:,.0f} MB ({db_size / size:.0%} of the JSON)")
        for label, rate, target in (
            ("parse + verdict / ceiling", rates["2. parse + verdict"], TARGET_VERDICT),
            ("full ingest / ceiling", rates["3. parse + verdict + DuckDB ingest"], TARGET_INGEST),
        ):
            ok = "[green]meets[/]" if rate / ceiling >= target else "[red]misses[/]"
            if args.smoke:  # too small to say anything about the target
                ok = "smoke run: not checked against"
            console.print(f"{label:<28} {rate / ceiling:6.1%}  ({ok} the {target:.0%} target)")
        if args.profile:
            profile_verdict(parts[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
