"""Lab throughput: a scenario end to end (namespaces, censors, probe, control), timed.

Prints wall time, rounds/s and measurements/s. Default: scenarios/pk-2024-x.toml
(280 rounds x 3 networks x 11 URLs); target <= 180 s on 2 cores, i.e. >= 52 measurements/s.
Needs root (network namespaces); otherwise it says why and exits 0.
Run: .venv/bin/python bench/lab_rounds.py [--scenario FILE] [--seed N] [--db FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "pk-2024-x.toml")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--db", type=Path, default=None, help="also ingest into this store")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    from blockwatch.lab.run import run_scenario
    from blockwatch.lab.topology import skip_reason

    reason = skip_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bw-lab-bench-") as tmp:
        started = time.perf_counter()
        summary = run_scenario(
            args.scenario, Path(tmp), seed=args.seed, db=args.db, progress=args.progress
        )
        wall = time.perf_counter() - started
    print(f"scenario         {summary.scenario} (seed {summary.seed})")
    print(f"rounds           {summary.rounds}")
    print(f"measurements     {summary.measurements}")
    print(f"wall time        {wall:.1f} s (target <= 180 s for pk-2024-x)")
    print(f"rounds/s         {summary.rounds / wall:.2f}")
    print(f"measurements/s   {summary.measurements / wall:.1f}")
    if summary.ingested is not None:
        print(f"ingested         {summary.ingested}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
