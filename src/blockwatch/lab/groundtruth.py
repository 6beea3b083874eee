"""Reading a lab run's ground truth (DIR/truth.jsonl) into rounds and true blocks (pure).

A true block is a maximal stretch of rounds in which a (network, domain) was under a blocking
policy. Rounds that escaped a sporadic policy (truth "none" inside the policy's window) are
part of the block: that is what availability measures. With the scenario at hand the windows
come from its policies; without it, from the truth itself, bridging short runs of "none".
Back-to-back policies on the same (network, domain) make one block: one story for a reader,
whatever the censor changed in the middle; so do two policies one round apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import orjson

from blockwatch.errors import InputError
from blockwatch.lab.clock import IP_LEVEL, site_addresses
from blockwatch.lab.scenario import Scenario
from blockwatch.times import parse_iso

BRIDGE_ROUNDS = 4  # without the scenario: "none" runs this long or shorter stay inside a block
ACCESS_ROUNDS = 1  # with it: this many rounds of access between two policies do not split


@dataclass(frozen=True, slots=True)
class TruthRow:
    at: datetime
    network: str
    probe_asn: str
    input: str
    domain: str
    truth: str  # a technique, "none" or "outage"


@dataclass(frozen=True, slots=True)
class TrueBlock:
    network: str
    probe_asn: str
    domain: str
    first: int  # round indices, inclusive: the policy window (escaped rounds included)
    last: int
    seen_first: int  # the first and last rounds the block was really enforced (observable)
    seen_last: int
    techniques: tuple[str, ...]
    availability: float  # share of the domain's non-outage truth rows that were "none"


@dataclass(frozen=True, slots=True)
class Truth:
    rows: list[TruthRow]
    t0: datetime
    step: timedelta
    rounds: int

    def index(self, t: datetime) -> int:
        return round((t - self.t0) / self.step)

    def at(self, i: int) -> datetime:
        return self.t0 + i * self.step


def read_truth(path: Path) -> list[TruthRow]:
    """The rows of a truth.jsonl file (InputError names the line of a bad row)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = orjson.loads(line)
            rows.append(
                TruthRow(
                    parse_iso(d["at"]),
                    d["network"],
                    d["probe_asn"],
                    d["input"],
                    d["domain"],
                    d["truth"],
                )
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(str(path), f"line {n}: not a truth row ({exc})") from exc
    if not rows:
        raise InputError(str(path), "no truth rows")
    return rows


def build_truth(rows: list[TruthRow], scenario: Scenario | None) -> Truth:
    times = sorted({r.at for r in rows})
    if scenario is not None:
        t0, step = scenario.start, scenario.round_every
    else:
        gaps = [b - a for a, b in pairwise(times)]
        t0, step = times[0], (min(gaps) if gaps else timedelta(hours=1))
    rounds = round((times[-1] - t0) / step) + 1
    return Truth(rows, t0, step, rounds)


def _windows(truth: Truth, scenario: Scenario, network: str, domain: str) -> list[tuple[int, int]]:
    """Round ranges (inclusive) of the policies that can block this domain (or tool) on this
    network: those naming it, and IP-level ones naming a site on the same address (collateral)."""
    addresses = site_addresses(scenario)
    out = []
    for p in scenario.policies:
        if network not in p.networks:
            continue
        collateral = p.technique in IP_LEVEL and any(
            addresses.get(s) == addresses.get(domain) for s in p.sites
        )
        if domain not in p.sites and domain not in p.tools and not collateral:
            continue
        idx = [i for i in range(truth.rounds) if p.in_force(truth.at(i))]
        if idx:
            out.append((idx[0], idx[-1]))
    return out


def true_blocks(truth: Truth, scenario: Scenario | None) -> list[TrueBlock]:
    """Every true block of the run, sorted by network, domain and start."""
    per: dict[tuple[str, str], dict[int, list[TruthRow]]] = {}
    for r in truth.rows:
        per.setdefault((r.network, r.domain), {}).setdefault(truth.index(r.at), []).append(r)
    blocks: list[TrueBlock] = []
    for (network, domain), by_round in sorted(per.items()):
        blocked = sorted(
            i for i, rs in by_round.items() if any(r.truth not in ("none", "outage") for r in rs)
        )
        if not blocked:
            continue
        windows = _windows(truth, scenario, network, domain) if scenario else []
        spans = _spans(blocked, windows, by_round)
        for first, last in spans:
            rows = [r for i in range(first, last + 1) for r in by_round.get(i, [])]
            live = [r for r in rows if r.truth != "outage"]
            techniques = sorted({r.truth for r in live if r.truth != "none"})
            enforced = [i for i in blocked if first <= i <= last]
            none = sum(1 for r in live if r.truth == "none")
            blocks.append(
                TrueBlock(
                    network,
                    rows[0].probe_asn,
                    domain,
                    first,
                    last,
                    enforced[0],
                    enforced[-1],
                    tuple(techniques),
                    round(none / len(live), 3) if live else 0.0,
                )
            )
    return blocks


def _spans(
    blocked: list[int], windows: list[tuple[int, int]], by_round: dict[int, list[TruthRow]]
) -> list[tuple[int, int]]:
    """Merge blocked rounds into spans, bridging escapes inside windows (or short gaps)."""
    spans: list[list[int]] = []
    for i in blocked:
        if spans and _bridged(spans[-1][1], i, windows, by_round):
            spans[-1][1] = i
        else:
            spans.append([i, i])
    if windows:
        # Rounds escaped at a window's edges still belong to the block.
        for span in spans:
            for a, b in windows:
                if a <= span[0] <= b:
                    span[0] = min(span[0], a)
                if a <= span[1] <= b:
                    span[1] = max(span[1], b)
    return [(a, b) for a, b in spans]


def _bridged(
    last: int, nxt: int, windows: list[tuple[int, int]], by_round: dict[int, list[TruthRow]]
) -> bool:
    if nxt == last + 1:
        return True
    if windows:
        # Back-to-back windows are one block, so a gap is bridged if every round in it is in
        # some window of this network; so is a single round of access between two windows,
        # which looks exactly like an escape (the score's resolution is one round).
        gap = [j for j in range(last + 1, nxt) if not any(a <= j <= b for a, b in windows)]
        return len(gap) <= ACCESS_ROUNDS
    gap = [j for j in range(last + 1, nxt) if any(r.truth != "outage" for r in by_round.get(j, []))]
    return len(gap) <= BRIDGE_ROUNDS
