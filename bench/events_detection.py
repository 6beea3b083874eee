"""Events: how fast, and how well against OONI's CUSUM, on the shipped pk-2024-x scenario.

1. Throughput: detect_events and cusum_events on --n synthetic verdicts (96 series of
   sporadic blocks and open targets, 6-hour rounds), CPU seconds and verdicts/s.
2. Score: the pk-2024-x scenario's truth, written by the lab's own clock and truth code, with
   the verdicts a perfect analyzer would give, then with --noise of the open measurements
   turned into stray failures: blocks found, worst start/end error, median detection delay,
   false events, for ours and CUSUM h=7 / h=3.5.

The noise model: each open row fails on its own (independent across rounds, networks, domains
and URLs) with chance --noise, with a method drawn at random from the failures a flaky path
gives that URL (DNS, TCP and HTTP timeouts and resets, and TLS ones for https); never a
blockpage, NXDOMAIN or bogon answer, which are not random. ``--noise-method M`` makes every
stray failure M instead (the old, harsher model: noise that looks like one technique).

``--smoke``: throughput on 3,000 verdicts, the score as above; about a second.

    .venv/bin/python bench/events_detection.py [--n 100000] [--noise 0.02] [--noise-method M]
        [--seed 3] [--smoke]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from blockwatch.analysis.cusum import cusum_events
from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Verdict
from blockwatch.lab.clock import rounds
from blockwatch.lab.scenario import load
from blockwatch.lab.score import score_run
from blockwatch.lab.truth import truth_rows
from blockwatch.times import parse_iso

# What tests/test_benches.py checks before running this bench with --smoke: nothing.
NEEDS: tuple[str, ...] = ()
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "pk-2024-x.toml"
T0 = datetime(2024, 2, 10, tzinfo=UTC)
N, SMOKE_N = 100_000, 3_000


def synthetic(n: int, seed: int = 1) -> list[Verdict]:
    rng = random.Random(seed)
    series = 96
    per = max(1, n // series)
    out = []
    for s in range(series):
        blocked = s % 3 == 0
        for r in range(per):
            inside = blocked and per // 4 <= r < 3 * per // 4
            outcome = "blocked" if inside and rng.random() > 0.3 else "ok"
            out.append(
                Verdict(
                    f"m{s}-{r}", T0 + r * timedelta(hours=6), "PK", f"AS{s % 8}", f"https://d{s}/",
                    f"d{s}.example", "web_connectivity", outcome,  # type: ignore[arg-type]
                    "tls.reset" if outcome == "blocked" else None,
                )
            )  # fmt: skip
    return out


def timed(label: str, fn: object, n: int) -> None:
    start = time.process_time()
    result = fn()  # type: ignore[operator]
    cpu = time.process_time() - start
    rate = n / max(cpu, 1e-9)  # a tiny run may measure 0
    print(f"{label:>14}: {cpu:6.2f} s CPU, {rate:10,.0f} verdicts/s, {len(result)} events")


# What a flaky path gives a URL: the network's own failures, not a censor's answers.
STRAY_METHODS = {
    "http": ("dns.timeout", "tcp.timeout", "tcp.reset", "http.timeout", "http.reset"),
    "https": (
        "dns.timeout", "tcp.timeout", "tcp.reset", "tls.timeout", "tls.reset", "http.timeout",
        "http.reset",
    ),
}  # fmt: skip


def stray_method(rng: random.Random, url: str, fixed: str | None) -> str:
    return fixed or rng.choice(STRAY_METHODS["https" if url.startswith("https:") else "http"])


def perfect_run(
    directory: Path, noise: float, fixed: str | None = None, seed: int = 3
) -> list[Verdict]:
    (directory / "scenario.toml").write_text(SCENARIO.read_text())
    scenario = load(directory / "scenario.toml")
    rng = random.Random(seed)
    rows, verdicts = [], []
    for rnd in rounds(scenario):
        for row in truth_rows(scenario, rnd):
            t = row["truth"]
            outcome = "ok" if t == "none" else "blocked"
            if t == "outage":
                outcome = "down" if row["domain"] in rnd.sites_down else "inconclusive"
            method = t if outcome == "blocked" else None
            if outcome == "ok" and rng.random() < noise:
                outcome, method = "blocked", stray_method(rng, row["input"], fixed)
            verdicts.append(
                Verdict(
                    f"m{len(rows)}", parse_iso(row["at"]), "PK", row["probe_asn"], row["input"],
                    row["domain"], "web_connectivity", outcome, method, 0.9,  # type: ignore[arg-type]
                )
            )  # fmt: skip
            rows.append(row)
    (directory / "truth.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, help=f"synthetic verdicts (default {N:,})")
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=3, help="of the stray failures")
    parser.add_argument(
        "--noise-method", help="every stray failure has this method (default: a random mix)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"tiny run: {SMOKE_N:,} synthetic verdicts"
    )
    args = parser.parse_args()
    n = args.n if args.n is not None else SMOKE_N if args.smoke else N
    vs = synthetic(n)
    print(f"throughput on {len(vs):,} synthetic verdicts")
    timed("ours", lambda: detect_events(vs), len(vs))
    timed("cusum h=7", lambda: cusum_events(vs), len(vs))
    if not SCENARIO.exists():
        print(f"no {SCENARIO}: score skipped")
        return
    for noise in (0.0, args.noise):
        with tempfile.TemporaryDirectory() as tmp:
            verdicts = perfect_run(Path(tmp), noise, args.noise_method, args.seed)
            report = score_run(Path(tmp), verdicts=verdicts)
        kind = args.noise_method or "mixed-method"
        print(f"\npk-2024-x, perfect verdicts, {noise:.0%} {kind} stray failures on open rows")
        for s in report.summaries:
            print(
                f"{s.name:>12}: found {s.detected}/{s.blocks}, events {s.events}, "
                f"false {s.false_events} ({s.false_during_outage} in outages), worst start "
                f"{s.worst_start_error} end {s.worst_end_error} rounds, worst availability "
                f"{s.worst_availability_error:.2f}, median delay "
                f"{'never' if s.median_delay is None else s.median_delay} rounds"
            )


if __name__ == "__main__":
    main()
