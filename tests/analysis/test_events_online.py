"""Online detection: events recomputed on every prefix of pk-2024-x, as the observatory does.

For every true block, its network must join the domain's country event within two rounds of
the second round the block bit, stay in it (span open) while the block goes on, and its span
must end once the block ends, also while other networks' blocks go on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsynth import verdicts as eventsynth

from blockwatch.analysis.events import analyse
from blockwatch.analysis.records import Verdict
from blockwatch.lab.clock import rounds
from blockwatch.lab.groundtruth import TruthRow, build_truth, read_truth, true_blocks
from blockwatch.lab.replay import ReplayReport, replay
from blockwatch.lab.scenario import load
from blockwatch.lab.truth import truth_rows
from blockwatch.store import Filter, Store
from blockwatch.times import parse_iso

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "pk-2024-x.toml"
# A real lab run's verdicts (the observatory's store) and its truth, when present.
STORE = Path("/tmp/online-pk.duckdb")
RUN = Path("/tmp/obspk")


def _perfect() -> tuple[list[Verdict], list[TruthRow]]:
    """The verdicts a perfect analyzer gives on the scenario, and its truth rows."""
    scenario = load(SCENARIO)
    verdicts, rows = [], []
    for rnd in rounds(scenario):
        for row in truth_rows(scenario, rnd):
            t = row["truth"]
            outcome = "ok" if t == "none" else "blocked"
            if t == "outage":
                outcome = "down" if row["domain"] in rnd.sites_down else "inconclusive"
            at = parse_iso(row["at"])
            verdicts.append(
                Verdict(
                    f"m{len(verdicts)}", at, "PK", row["probe_asn"], row["input"], row["domain"],
                    "web_connectivity", outcome, t if outcome == "blocked" else None, 0.9,  # type: ignore[arg-type]
                )
            )  # fmt: skip
            rows.append(
                TruthRow(at, row["network"], row["probe_asn"], row["input"], row["domain"], t)
            )
    return verdicts, rows


# Every round where something happens (the 02-10 disruption, the blocks' first weeks with
# their first windows of access, PTCL's change of technique at round 58, AS135407's end at
# 155, Cybernet's outage at 96-99 and end at 203), every fifth round between: each prefix costs a
# detection on all the data so far, and all 280 take minutes on a shared machine.
PREFIXES = sorted(
    {*range(72), *range(92, 104), *range(148, 168), *range(196, 216), *range(72, 280, 5)}
)


def _check(report: ReplayReport) -> None:
    assert len(report.blocks) == 24, report.summary()
    late = [(b.block.probe_asn, b.block.domain, b.block.first, b.delay) for b in report.late]
    assert not late, report.summary()
    unstable = [(b.block.probe_asn, b.block.domain, b.dropped, b.reopened) for b in report.unstable]
    assert not unstable, report.summary()
    unended = [(b.block.probe_asn, b.block.domain, b.block.last) for b in report.unended]
    assert not unended, report.summary()
    assert not report.false_spans, report.summary()


@pytest.mark.slow
@pytest.mark.timeout(900)  # a detection per prefix: minutes on a loaded machine
def test_prefixes_of_perfect_verdicts_are_timely_and_stable() -> None:
    scenario = load(SCENARIO)
    verdicts, rows = _perfect()
    truth = build_truth(rows, scenario)
    report = replay(verdicts, truth, true_blocks(truth, scenario), rounds=PREFIXES)
    _check(report)
    # AS135407's block ends at round 155 and AS9541's at 203 while PTCL's goes on: their
    # spans end (the "ended on AS…" alerts), each a few rounds after the block.
    ended = {(b.block.probe_asn, b.block.last): b.ended for b in report.blocks if b.ends}
    assert all(e is not None and last < e <= last + 8 for (_, last), e in ended.items())


@pytest.mark.slow
@pytest.mark.timeout(900)  # a detection per prefix: minutes on a loaded machine
def test_prefixes_of_a_real_lab_run_are_timely_and_stable() -> None:
    if not STORE.exists() or not (RUN / "truth.jsonl").exists():
        pytest.skip(f"no stored lab run at {STORE} and {RUN} (an observatory run of pk-2024-x)")
    store = Store(STORE, read_only=True)
    verdicts = store.verdicts(Filter(country="PK"))
    scenario = load(RUN / "scenario.toml")
    truth = build_truth(read_truth(RUN / "truth.jsonl"), scenario)
    _check(replay(verdicts, truth, true_blocks(truth, scenario), rounds=PREFIXES))


X_NAMES = ("x.com", "twitter.com", "t.co", "api.twitter.com", "abs.twimg.com", "pbs.twimg.com")


def _young_block(tail: str, control_tail: str) -> list[Verdict]:
    """Thirty open rounds, then NXDOMAIN on six X names of eight targets (``tail``); the
    two control sites fail their last rounds by chance (``control_tail``, a TCP reset)."""
    out = [v for d in X_NAMES for v in eventsynth(30 * "." + tail, domain=d, method="dns.nxdomain")]
    for d in ("wikipedia.org", "dawn.com"):
        out += eventsynth(30 * "." + control_tail, domain=d, method="tcp.reset")
    return out


def test_a_young_block_on_most_targets_is_neither_noise_nor_an_outage() -> None:
    # Round 33: every target fails, yet six of them fail as they did the rounds before (a
    # block four rounds old, 12 % of each target's history), the controls by chance.
    analysis = analyse(_young_block("BBBB", "...B"))
    assert not analysis.outages.events
    blocked = {e.domain for e in analysis.events if e.probe_asn and e.end is None}
    assert blocked == set(X_NAMES)
    # The block's own failures are not the network's noise: NXDOMAIN has no stray rate.
    assert dict(analysis.noise[("PK", "AS17557")].methods).get("dns.nxdomain", 0.0) == 0.0


def test_a_sporadic_block_goes_on_through_its_windows_of_access() -> None:
    # Four blocked rounds of five, then three open: at availability 0.3 a streak of three
    # escapes is ordinary, so a live watcher must not see the block end (and restart).
    events = analyse(_young_block("BBB.B...", "........")).events
    ongoing = {e.domain for e in events if e.probe_asn and e.kind == "censorship" and e.end is None}
    assert ongoing == set(X_NAMES)
