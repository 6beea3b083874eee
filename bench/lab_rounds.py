"""Lab throughput: a scenario end to end (namespaces, censors, probe, control), timed.

Prints wall time, rounds/s and measurements/s. Default: scenarios/pk-2024-x.toml
(280 rounds x 3 networks x 11 URLs); target <= 180 s on 2 cores, i.e. >= 52 measurements/s.
Needs root (network namespaces); otherwise it says why and exits 0.
``--smoke``: the smallest, quickest scenario instead (scenarios/techniques/dns.nxdomain.toml:
4 rounds x 1 network x 5 URLs, no timeouts to wait out), in a few seconds.
Run: .venv/bin/python bench/lab_rounds.py [--scenario FILE] [--seed N] [--db FILE] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# What tests/test_benches.py checks before running this bench with --smoke.
NEEDS = ("lab",)
REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "pk-2024-x.toml"
SMOKE_SCENARIO = REPO / "scenarios" / "techniques" / "dns.nxdomain.toml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", type=Path, help=f"default {SCENARIO.relative_to(REPO)}")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--db", type=Path, default=None, help="also ingest into this store")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help=f"tiny run: {SMOKE_SCENARIO.relative_to(REPO)}"
    )
    args = parser.parse_args()
    scenario = args.scenario or (SMOKE_SCENARIO if args.smoke else SCENARIO)

    from blockwatch.lab.run import run_scenario
    from blockwatch.lab.topology import skip_reason

    reason = skip_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bw-lab-bench-") as tmp:
        started = time.perf_counter()
        summary = run_scenario(
            scenario, Path(tmp), seed=args.seed, db=args.db, progress=args.progress
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
    expected = sum(summary.truth.values())  # one truth row per round x network x URL
    if summary.rounds == 0 or summary.measurements != expected:
        raise SystemExit(
            f"{summary.measurements} measurements in {summary.rounds} rounds, expected {expected}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
