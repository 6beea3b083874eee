"""Online replay: detection re-run on every prefix of a run, as a live observatory runs it.

An observatory recomputes a country's events after each round on all the data so far, and its
alerts follow the country events' network spans. For every true block this replays the run
round by round and measures what a watcher saw: the round its network joined the domain's
country event (against the second round the block bit), the rounds it dropped out while the
block went on, and the round its span ended after the block did. Pure: verdicts in, figures out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import median

from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Event, NetworkSpan, Verdict
from blockwatch.lab.groundtruth import TrueBlock, Truth

__all__ = ["BlockReplay", "ReplayReport", "replay"]


@dataclass(frozen=True, slots=True)
class BlockReplay:
    """What a live watcher saw of one true block."""

    block: TrueBlock
    second: int  # the second round the block bit (enforced)
    joined: int | None  # first round whose prefix shows the network's span; None: never
    dropped: tuple[int, ...]  # rounds in [joined, block end] whose prefix lost the open span
    ends: bool  # the block ends before the data does
    ended: int | None  # first round after the block whose prefix ends the span; None: never
    reopened: int  # times the span went from ended back to open after the block's end

    @property
    def delay(self) -> int | None:
        return None if self.joined is None else self.joined - self.second


@dataclass(frozen=True, slots=True)
class ReplayReport:
    blocks: list[BlockReplay]
    rounds: int
    false_spans: list[tuple[str, str, int]] = field(default_factory=list)  # asn, domain, round

    @property
    def late(self) -> list[BlockReplay]:
        return [b for b in self.blocks if b.delay is None or b.delay > 2]

    @property
    def unstable(self) -> list[BlockReplay]:
        return [b for b in self.blocks if b.dropped or b.reopened]

    @property
    def unended(self) -> list[BlockReplay]:
        return [b for b in self.blocks if b.ends and b.ended is None]

    def summary(self) -> str:
        delays = [b.delay for b in self.blocks if b.delay is not None]
        lags = [b.ended - b.block.seen_last for b in self.blocks if b.ended is not None]
        return (
            f"{len(self.blocks)} blocks over {self.rounds} prefixes: joined within 2 rounds "
            f"{len(self.blocks) - len(self.late)}, median delay "
            f"{median(delays) if delays else 'never'}, worst {max(delays, default='never')}; "
            f"dropped out {sum(len(b.dropped) for b in self.blocks)} prefix-rounds on "
            f"{len(self.unstable)} blocks, reopened after the end "
            f"{sum(b.reopened for b in self.blocks)}; ended "
            f"{sum(b.ended is not None for b in self.blocks)}"
            f"/{sum(b.ends for b in self.blocks)} (worst lag {max(lags, default=0)} rounds); "
            f"false network spans {len(self.false_spans)}"
        )


def _spans(events: Sequence[Event], asn: str, domain: str) -> list[NetworkSpan]:
    return [
        n
        for e in events
        if e.parent_event_id is None and e.kind == "censorship" and e.domain == domain
        for n in e.networks
        if n.probe_asn == asn
    ]


def _enforced(truth: Truth, block: TrueBlock) -> list[int]:
    rounds = {
        truth.index(r.at)
        for r in truth.rows
        if r.probe_asn == block.probe_asn
        and r.domain == block.domain
        and r.truth not in ("none", "outage")
    }
    return sorted(i for i in rounds if block.first <= i <= block.last)


def replay(
    verdicts: Sequence[Verdict],
    truth: Truth,
    blocks: Sequence[TrueBlock],
    *,
    rounds: Iterable[int] | None = None,
    detect: Callable[[list[Verdict]], list[Event]] = detect_events,
) -> ReplayReport:
    """Detect on every prefix (data up to round t, for t in ``rounds``: default every round)
    and follow each block."""
    order = sorted(verdicts, key=lambda v: v.measured_at)
    span_rounds = sorted(set(rounds if rounds is not None else range(truth.rounds)))
    seen: dict[int, list[Event]] = {}
    cut = 0
    for t in span_rounds:
        limit = truth.at(t)
        while cut < len(order) and order[cut].measured_at < limit + truth.step:
            cut += 1
        seen[t] = detect(order[:cut])
    out = [_follow(b, _enforced(truth, b), seen, truth) for b in blocks]
    return ReplayReport(out, len(span_rounds), _false_spans(seen, blocks, truth))


def _covers(span: NetworkSpan, block: TrueBlock, truth: Truth) -> bool:
    first, last = truth.at(max(block.first - 1, 0)), truth.at(block.last + 1)
    return span.start <= last and (span.end is None or span.end >= first)


def _follow(
    block: TrueBlock, enforced: list[int], seen: dict[int, list[Event]], truth: Truth
) -> BlockReplay:
    second = enforced[1] if len(enforced) > 1 else enforced[0]
    joined: int | None = None
    dropped: list[int] = []
    ended: int | None = None
    reopened = 0
    ends = block.last < truth.rounds - 1
    for t in sorted(seen):
        spans = [
            s for s in _spans(seen[t], block.probe_asn, block.domain) if _covers(s, block, truth)
        ]
        open_now = any(s.end is None for s in spans)
        if t <= block.seen_last:
            if joined is None and spans and t >= block.seen_first:
                joined = t
            elif joined is not None and not open_now:
                dropped.append(t)
        if t > block.seen_last and spans:
            if not open_now and ended is None:
                ended = t
            elif open_now and ended is not None:
                reopened += 1
                ended = None
    return BlockReplay(block, second, joined, tuple(dropped), ends, ended, reopened)


def _false_spans(
    seen: dict[int, list[Event]], blocks: Sequence[TrueBlock], truth: Truth
) -> list[tuple[str, str, int]]:
    """Network spans (first round each was seen) that overlap no true block."""
    found: dict[tuple[str, str], int] = {}
    for t in sorted(seen):
        for e in seen[t]:
            if e.parent_event_id is not None or e.kind != "censorship" or e.domain is None:
                continue
            for n in e.networks:
                mine = [b for b in blocks if b.probe_asn == n.probe_asn and b.domain == e.domain]
                if not any(_covers(n, b, truth) for b in mine):
                    found.setdefault((n.probe_asn, e.domain), t)
    return sorted((asn, domain, t) for (asn, domain), t in found.items())
