"""One series, cut into blocked runs: the detector's model (DESIGN §5), pure.

Each bucket of a series holds k blocked out of n conclusive measurements. A small hidden
Markov model has one "open" state where a measurement fails at a stray rate ε and blocked
states at fixed blocking levels q; a bucket costs its Bernoulli log-likelihood
k·log q + (n-k)·log(1-q), entering a block, leaving it and changing level cost fixed
penalties, and the cheapest path (Viterbi) gives the runs. ``alarm_times`` is the online
view of the same evidence, for detection delay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from blockwatch.analysis.series import Grid, Series

LEVELS: Final = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97, 0.995)


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """The model's knobs; costs are in nats (natural-log likelihood units)."""

    stray_rate: float = 0.02  # ε: share of measurements failing for no censorship reason
    levels: tuple[float, ...] = LEVELS  # blocked shares a block may have
    enter_cost: float = 8.0  # also the evidence an event still open at the end needs
    leave_cost: float = 4.0
    level_cost: float = 6.0  # >= enter+leave - level gap, so gaps are not bridged cheaply
    alarm_threshold: float = 8.0  # online alarm: running evidence for a block crosses this
    max_gap_buckets: int = 14  # a longer stretch without data splits a series
    ended_if_missed: float = 0.05  # ongoing unless the open tail would be this unlikely
    join_gap_buckets: int = 2  # networks' events of one domain this close form one country event
    assisted_evidence: float = 3.0  # inside a country-wide block, a network needs only this
    max_stray_rate: float = 0.25  # the noise a network may show before nothing can be said
    clean_share: float = 0.2  # targets blocked less than this are a network's noise gauge


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of one series in a blocked state: bucket indices with data, and its level."""

    indices: tuple[int, ...]
    llr: float  # evidence for the block over the open state, in nats
    ongoing: bool


def _cost(q: float, k: int, n: int) -> float:
    return -(k * math.log(q) + (n - k) * math.log(1.0 - q))


def _chunks(indices: Sequence[int], max_gap: int) -> list[list[int]]:
    chunks: list[list[int]] = []
    for i in indices:
        if chunks and i - chunks[-1][-1] <= max_gap:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def _viterbi(counts: Sequence[tuple[int, int]], p: DetectorParams) -> list[int]:
    """The cheapest state path: 0 = open, s >= 1 = blocked at level p.levels[s-1]."""
    qs = (p.stray_rate, *p.levels)
    log_q = [math.log(q) for q in qs]
    log_open = [math.log(1.0 - q) for q in qs]
    n_states = len(qs)
    enter, leave, level = p.enter_cost, p.leave_cost, p.level_cost
    cost = [0.0] + [enter] * (n_states - 1)
    back: list[list[int]] = []
    for k, n in counts:
        # The best and second-best blocked levels give every state its best predecessor in
        # one pass (this loop is the detector's hot spot: kept to plain arithmetic).
        best_i = second_i = 1
        best_c = second_c = math.inf
        for s in range(1, n_states):
            c = cost[s]
            if c < best_c:
                second_c, second_i, best_c, best_i = best_c, best_i, c, s
            elif c < second_c:
                second_c, second_i = c, s
        from_open = cost[0] + enter
        new = [0.0] * n_states
        step_back = [0] * n_states
        if best_c + leave < cost[0]:
            new[0], step_back[0] = best_c + leave, best_i
        else:
            new[0] = cost[0]
        new[0] -= k * log_q[0] + (n - k) * log_open[0]
        for b in range(1, n_states):
            c, a = cost[b], b
            if from_open <= c:
                c, a = from_open, 0
            other_c, other_i = (second_c, second_i) if best_i == b else (best_c, best_i)
            if other_c + level < c:
                c, a = other_c + level, other_i
            new[b] = c - (k * log_q[b] + (n - k) * log_open[b])
            step_back[b] = a
        back.append(step_back)
        cost = new
    state = min(range(n_states), key=cost.__getitem__)
    path = [state]
    for step_back in reversed(back[1:]):
        state = step_back[state]
        path.append(state)
    path.reverse()
    return path


def segment(cells: Series, p: DetectorParams, masked: set[int] | None = None) -> list[Run]:
    """The blocked runs of one series (pure: cells in, runs out)."""
    masked = masked or set()
    indices = [i for i in sorted(cells) if cells[i].n and i not in masked]
    runs: list[Run] = []
    chunks = _chunks(indices, p.max_gap_buckets)
    for c_no, chunk in enumerate(chunks):
        counts = [(cells[i].k, cells[i].n) for i in chunk]
        path = _viterbi(counts, p)
        pos = 0
        while pos < len(chunk):
            if path[pos] == 0:
                pos += 1
                continue
            end = pos
            while end + 1 < len(chunk) and path[end + 1] != 0:
                end += 1
            # The path may run on over open buckets at the very end (no leave cost there);
            # an event spans first to last bucket that actually saw a block.
            inside = trim_foreign_edges(cells, [i for i in chunk[pos : end + 1] if cells[i].k])
            if inside:
                runs.append(run_of(cells, chunk, inside, p, last_chunk=c_no == len(chunks) - 1))
            pos = end + 1
    return runs


def trim_foreign_edges(cells: Series, inside: list[int], share: float = 0.1) -> list[int]:
    """Drop edge buckets whose failures are all of a kind the block hardly shows.

    A censor is consistent in its method; near the edges of a sporadic block the model cannot
    tell a stray failure from the block by counts alone, but a timeout next to a block of TLS
    resets is not the block.
    """
    methods: dict[str | None, int] = {}
    for i in inside:
        for v in cells[i].blocked:
            methods[v.method] = methods.get(v.method, 0) + 1
    total = sum(methods.values())
    usual = {m for m, n in methods.items() if n >= share * total}

    def foreign(i: int) -> bool:
        return all(v.method not in usual for v in cells[i].blocked)

    while len(inside) > 1 and foreign(inside[0]):
        inside = inside[1:]
    while len(inside) > 1 and foreign(inside[-1]):
        inside = inside[:-1]
    return inside


def run_of(
    cells: Series, chunk: list[int], inside: list[int], p: DetectorParams, last_chunk: bool
) -> Run:
    span = [i for i in chunk if inside[0] <= i <= inside[-1]]
    k = sum(cells[i].k for i in span)
    n = sum(cells[i].n for i in span)
    q = min(max(k / n, p.levels[0]), p.levels[-1])
    llr = sum(
        _cost(p.stray_rate, cells[i].k, cells[i].n) - _cost(q, cells[i].k, cells[i].n) for i in span
    )
    after = sum(cells[i].n for i in chunk if i > inside[-1])
    # Ongoing when the open measurements after the last blocked one are too few to say the
    # block ended: with blocked share q, m escapes in a row happen with chance (1-q)^m.
    ongoing = last_chunk and (1.0 - q) ** after >= p.ended_if_missed
    return Run(tuple(span), llr, ongoing)


def alarm_times(
    cells: Series, grid: Grid, p: DetectorParams, masked: set[int] | None = None
) -> list[datetime]:
    """Online view: when the running evidence for a block first crosses the alarm threshold.

    One CUSUM per blocking level over the log-likelihood ratio against the open state; an
    alarm re-arms once every accumulator has fallen back to zero. Used for detection delay.
    """
    masked = masked or set()
    acc = [0.0 for _ in p.levels]
    alarms: list[datetime] = []
    armed = True
    for i in sorted(cells):
        c = cells[i]
        if not c.n or i in masked:
            continue
        base = _cost(p.stray_rate, c.k, c.n)
        acc = [max(0.0, a + base - _cost(q, c.k, c.n)) for a, q in zip(acc, p.levels, strict=True)]
        if armed and max(acc) >= p.alarm_threshold:
            alarms.append(max(v.measured_at for v in c.blocked) if c.blocked else grid.at(i))
            armed = False
        elif not armed and max(acc) == 0.0:
            armed = True
    return alarms
