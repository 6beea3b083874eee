"""Events online: detection re-run on every round's prefix of pk-2024-x, as the observatory does.

Per true block: the round its network joined the domain's country event against the second
round the block bit (the observatory's bar: two rounds), the rounds it dropped out while the
block went on, and the round its span ended after the block did; false network spans.

Verdicts: a perfect analyzer's on the scenario (``--noise X``: stray failures on open rows, as
``events_detection.py``), or a real run's store (``--store DB --run DIR``, DIR holding its
``truth.jsonl`` and ``scenario.toml``). ``--smoke``: the first 40 prefixes only.

    .venv/bin/python bench/events_online.py [--noise 0.1] [--seed 3] [--store DB --run DIR]
        [--rounds A:B] [--blocks] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from blockwatch.analysis.records import Verdict
from blockwatch.lab.groundtruth import build_truth, read_truth, true_blocks
from blockwatch.lab.replay import replay
from blockwatch.lab.scenario import load
from blockwatch.store import Filter, Store
from events_detection import SCENARIO, perfect_run

# What tests/test_benches.py checks before running this bench with --smoke: nothing.
NEEDS: tuple[str, ...] = ()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=3, help="of the stray failures")
    parser.add_argument("--store", type=Path, help="a real run's store (its PK verdicts)")
    parser.add_argument("--run", type=Path, help="that run's directory (truth, scenario)")
    parser.add_argument("--rounds", default="", help="prefixes A:B (default: every round)")
    parser.add_argument("--blocks", action="store_true", help="print every block's figures")
    parser.add_argument("--smoke", action="store_true", help="the first 40 prefixes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or Path(tmp)
        verdicts: list[Verdict]
        if args.store:
            verdicts = Store(args.store, read_only=True).verdicts(Filter(country="PK"))
            label = f"store {args.store}"
        else:
            verdicts = perfect_run(run, args.noise, None, args.seed)
            label = f"perfect verdicts, {args.noise:.0%} mixed-method stray failures"
        scenario = load(run / "scenario.toml" if (run / "scenario.toml").exists() else SCENARIO)
        truth = build_truth(read_truth(run / "truth.jsonl"), scenario)
    lo, _, hi = args.rounds.partition(":")
    span = range(int(lo or 0), 40 if args.smoke else int(hi or truth.rounds))
    started = time.process_time()
    report = replay(verdicts, truth, true_blocks(truth, scenario), rounds=span)
    cpu = time.process_time() - started
    print(f"pk-2024-x online, {label}, prefixes {span.start}..{span.stop - 1} ({cpu:.0f} s CPU)")
    print(report.summary())
    for b in report.blocks if args.blocks else report.late + report.unstable:
        blk = b.block
        print(
            f"  {blk.probe_asn:>9} {blk.domain:<16} rounds {blk.first}-{blk.last}: second "
            f"{b.second}, joined {b.joined} (delay {b.delay}), dropped {list(b.dropped)}, "
            f"ended {b.ended}, reopened {b.reopened}"
        )
    for asn, domain, t in report.false_spans:
        print(f"  false span {asn} {domain} first seen at round {t}")


if __name__ == "__main__":
    main()
