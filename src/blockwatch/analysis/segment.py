"""One series, cut into blocked runs: the detector's model (DESIGN §5), pure.

Each bucket of a series holds k blocked out of n conclusive measurements. A small hidden
Markov model has one "open" state where a measurement fails at a stray rate ε and blocked
states at fixed blocking levels q; a bucket costs its Bernoulli log-likelihood
k·log q + (n-k)·log(1-q), entering a block, leaving it and changing level cost fixed
penalties, and the cheapest path (Viterbi) gives the runs. ``analysis.alarms`` is the online
view of the same evidence, for detection delay.

A censor repeats its method; a flaky network fails with a mix of them. So k counts only the
failures of the block's methods, and ε is the network's stray rate *of those methods*: each
method that shows a block on its own (its failures against its own stray rate) joins the
block's methods, and the series is then cut once on their failures together (a block that
changes technique stays one run). Failures of other methods are stray: not the block.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Final

from blockwatch.analysis.series import Cell, Series

Method = str | None  # a blocked verdict's method (None where the source names none)
LEVELS: Final = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97, 0.995)


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """The model's knobs; costs are in nats (natural-log likelihood units)."""

    stray_rate: float = 0.02  # ε: share of measurements failing for no censorship reason
    levels: tuple[float, ...] = LEVELS  # blocked shares a block may have
    enter_cost: float = 8.0  # also the evidence an event still open at the end needs
    leave_cost: float = 4.0
    level_cost: float = 6.0  # >= enter+leave - level gap, so gaps are not bridged cheaply
    # A series (or a chunk after a gap) whose block's methods fail in each of its first this
    # many buckets may start blocked at the chain's own odds (``start_cost``), not at the
    # price of a transition from an open baseline it never showed.
    opening_buckets: int = 3
    alarm_threshold: float = 8.0  # online alarm: running evidence for a block crosses this
    max_gap_buckets: int = 14  # a longer stretch without data splits a series
    ended_if_missed: float = 0.05  # ongoing unless the open tail would be this unlikely
    split_if_missed: float = 0.01  # a run is cut where its escapes in a row are this unlikely
    mixed_level: float = 0.8  # failures of mixed methods are a block only at this level or more
    own_rate_doubt: float = 0.001  # a target's own stray rate counts when its failures are
    # this unlikely at the network's rate
    join_gap_buckets: int = 2  # networks' events of one domain this close form one country event
    assisted_evidence: float = 3.0  # inside a country-wide block, a network needs only this
    max_stray_rate: float = 0.25  # the noise a network may show before nothing can be said
    clean_share: float = 0.2  # targets blocked less than this are a network's noise gauge
    # The network's learnt stray failure rate per method (floored at stray_rate when used).
    method_rates: tuple[tuple[Method, float], ...] = ()
    network_rate: float = 0.0  # the network's learnt stray rate over all methods

    @property
    def start_cost(self) -> float:
        """The cost of being blocked before any data: -log of the blocked state's stationary
        share, p_enter / (p_enter + p_leave), about enter_cost - leave_cost."""
        return math.log1p(math.exp(self.enter_cost - self.leave_cost))

    def for_methods(self, methods: Collection[Method]) -> DetectorParams:
        """The model for a block made of ``methods``: ε is the network's stray rate of those
        methods together (at least ``stray_rate``), and only levels clearly above it."""
        rates = dict(self.method_rates)
        return with_stray_rate(
            replace(self, method_rates=()), sum(rates.get(m, 0.0) for m in methods)
        )


def with_stray_rate(p: DetectorParams, rate: float) -> DetectorParams:
    """The model for failures that happen at ``rate`` for no censorship reason: ε at least
    that, and only blocking levels clearly above it."""
    eps = min(max(rate, p.stray_rate), p.max_stray_rate)
    if eps == p.stray_rate:
        return p
    levels = tuple(q for q in p.levels if q >= 2 * eps) or p.levels[-1:]
    return replace(p, stray_rate=eps, levels=levels)


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of one series in a blocked state: bucket indices with data, and its level."""

    indices: tuple[int, ...]
    llr: float  # evidence for the block over the open state, in nats
    ongoing: bool
    methods: frozenset[Method] = field(default_factory=frozenset)  # the block's methods


def blocked_by(cell: Cell, methods: Collection[Method] | None) -> int:
    """Blocked measurements of the cell whose method is one of ``methods`` (None: any)."""
    if methods is None:
        return cell.k
    return sum(1 for v in cell.blocked if v.method in methods)


def bernoulli_cost(q: float, k: int, n: int) -> float:
    """Negative log-likelihood of k blocked out of n when each is blocked with chance q."""
    return -(k * math.log(q) + (n - k) * math.log(1.0 - q))


def _chunks(indices: Sequence[int], max_gap: int) -> list[list[int]]:
    chunks: list[list[int]] = []
    for i in indices:
        if chunks and i - chunks[-1][-1] <= max_gap:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def _viterbi(
    counts: Sequence[tuple[int, int]], p: DetectorParams, start: float | None = None
) -> list[int]:
    """The cheapest state path: 0 = open, s >= 1 = blocked at level p.levels[s-1].
    ``start``: the cost of a blocked state before the first bucket (default: enter_cost,
    as if an open stretch came before)."""
    qs = (p.stray_rate, *p.levels)
    log_q = [math.log(q) for q in qs]
    log_open = [math.log(1.0 - q) for q in qs]
    n_states = len(qs)
    enter, leave, level = p.enter_cost, p.leave_cost, p.level_cost
    cost = [0.0] + [enter if start is None else start] * (n_states - 1)
    back: list[list[int]] = []
    # A bucket's cost in each state depends on (k, n) alone, and few pairs recur.
    emission: dict[tuple[int, int], list[float]] = {}
    for k, n in counts:
        em = emission.get((k, n))
        if em is None:
            em = emission[(k, n)] = [
                -(k * lq + (n - k) * lo) for lq, lo in zip(log_q, log_open, strict=True)
            ]
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
        new[0] += em[0]
        for b in range(1, n_states):
            c, a = cost[b], b
            if from_open <= c:
                c, a = from_open, 0
            other_c, other_i = (second_c, second_i) if best_i == b else (best_c, best_i)
            if other_c + level < c:
                c, a = other_c + level, other_i
            new[b] = c + em[b]
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
        last = c_no == len(chunks) - 1
        methods = block_methods(cells, chunk, p)
        if not methods:
            # No method shows a block by itself: failures of mixed methods are a block only
            # where most measurements fail, well above the network's overall stray rate.
            runs += _cut(cells, chunk, None, _mixed_model(p), last)
            continue
        pm = p.for_methods(methods)
        # A target may fail with the block's methods more often than the network's other
        # targets do (a server that resets now and then): its own rate of them outside the
        # blocks seen at the network's overall stray rate is then the stray rate.
        sure = _cut(cells, chunk, methods, with_stray_rate(pm, p.network_rate), last)
        own = _own_rate(cells, chunk, methods, sure, pm)
        runs += _cut(cells, chunk, methods, with_stray_rate(pm, own), last)
    return runs


def _mixed_model(p: DetectorParams) -> DetectorParams:
    mp = with_stray_rate(replace(p, method_rates=()), p.network_rate)
    return replace(mp, levels=tuple(q for q in mp.levels if q >= p.mixed_level) or mp.levels[-1:])


def _own_rate(
    cells: Series,
    chunk: Sequence[int],
    methods: Collection[Method],
    runs: Sequence[Run],
    p: DetectorParams,
) -> float:
    """The series' failure rate of ``methods`` outside ``runs``, when it is too high for the
    network's stray rate ``p.stray_rate`` to explain; else 0."""
    inside = {i for r in runs for i in r.indices}
    rest = [i for i in chunk if i not in inside]
    n = sum(cells[i].n for i in rest)
    k = sum(blocked_by(cells[i], methods) for i in rest)
    if n < 30 or _tail(k, n, p.stray_rate) >= p.own_rate_doubt:
        return 0.0
    return k / n


def _tail(k: int, n: int, eps: float) -> float:
    """P(X >= k) for X ~ Binomial(n, eps)."""
    if k <= 0:
        return 1.0
    below = sum(
        math.exp(
            math.lgamma(n + 1)
            - math.lgamma(j + 1)
            - math.lgamma(n - j + 1)
            + j * math.log(eps)
            + (n - j) * math.log1p(-eps)
        )
        for j in range(k)
    )
    return max(0.0, 1.0 - below)


def block_methods(cells: Series, chunk: Sequence[int], p: DetectorParams) -> frozenset[Method]:
    """The methods that show a block on their own, each against its own stray rate.

    A method seen once is never a block's; with one candidate the final cut decides alone.
    """
    seen = Counter(v.method for i in chunk for v in cells[i].blocked)
    candidates = frozenset(m for m, n in seen.items() if n >= 2)
    if len(candidates) <= 1:
        return candidates
    shown = frozenset(
        m for m in candidates if _cut(cells, chunk, {m}, p.for_methods({m}), last_chunk=False)
    )
    return shown | {m for m in candidates - shown if _takes_over(cells, chunk, shown, m, p)}


def _takes_over(
    cells: Series, chunk: Sequence[int], shown: Collection[Method], m: Method, p: DetectorParams
) -> bool:
    """A block changing technique at the end of the data: ``m`` fails every bucket (two or
    more) from right after the block's last failure of its methods on, too few yet to stand
    alone. Stray failures of ``m`` long before do not matter."""
    before = [i for i in chunk if blocked_by(cells[i], shown)]
    streak = 0
    while streak < len(chunk) and blocked_by(cells[chunk[-1 - streak]], {m}):
        streak += 1
    if not before or streak < 2:
        return False
    first = chunk[-streak]
    return before[-1] < first <= before[-1] + p.join_gap_buckets


def _cut(
    cells: Series,
    chunk: Sequence[int],
    methods: Collection[Method] | None,
    p: DetectorParams,
    last_chunk: bool,
) -> list[Run]:
    """The runs of one chunk of a series, counting the failures of ``methods`` (None: all)."""
    counts = [(blocked_by(cells[i], methods), cells[i].n) for i in chunk]
    path = _viterbi(counts, p, p.start_cost if _opens_blocked(counts, methods, p) else None)
    runs: list[Run] = []
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
        hit = [i for i in chunk[pos : end + 1] if blocked_by(cells[i], methods)]
        pieces = split_at_long_escapes(cells, chunk, hit, p) if hit else []
        for piece in pieces:
            inside = trim_foreign_edges(cells, piece, methods)
            if not inside:
                continue
            run = run_of(cells, chunk, inside, p, last_chunk, methods)
            # A piece of a split run stands as an event only on its own evidence.
            if len(pieces) == 1 or run.llr >= p.enter_cost:
                runs.append(run)
        pos = end + 1
    return runs


def _opens_blocked(
    counts: Sequence[tuple[int, int]], methods: Collection[Method] | None, p: DetectorParams
) -> bool:
    """Whether a chunk starts inside a block: its first ``opening_buckets`` buckets all fail
    with the block's methods (a censor's consistent method, not a stray round or a mix).

    With no open stretch before it, a block already on when the data begins pays the
    chain's stationary odds of being blocked, not the price of a transition that was never
    seen; otherwise a block from the first round (one URL of two failing) would need four
    rounds, five with an outage round among them. A single stray round (even both URLs)
    cannot open a series: it takes three rounds of one method.
    """
    if methods is None or len(counts) < p.opening_buckets:
        return False
    return all(k > 0 for k, _ in counts[: p.opening_buckets])


def split_at_long_escapes(
    cells: Series, chunk: Sequence[int], hits: list[int], p: DetectorParams
) -> list[list[int]]:
    """Cut a run's blocked buckets where the escapes in a row are too many for one block.

    A run at a low level can bridge two blocks weeks apart when a few stray failures in
    between pay for the escapes. With the run's share q of blocked buckets, m open buckets in
    a row happen somewhere in its N buckets with chance about N·(1-q)^m; below
    ``split_if_missed`` the block had ended and another began.
    """
    span = [i for i in chunk if hits[0] <= i <= hits[-1]]
    q = len(hits) / len(span)
    pieces = [[hits[0]]]
    position = {i: n for n, i in enumerate(span)}
    for a, b in pairwise(hits):
        missed = position[b] - position[a] - 1
        if len(span) * (1.0 - q) ** missed < p.split_if_missed:
            pieces.append([b])
        else:
            pieces[-1].append(b)
    return pieces


def trim_foreign_edges(
    cells: Series,
    inside: list[int],
    methods: Collection[Method] | None = None,
    share: float = 0.1,
) -> list[int]:
    """Drop edge buckets whose failures (of ``methods``) are all of a kind the block hardly
    shows.

    A censor is consistent in its method; near the edges of a sporadic block the model cannot
    tell a stray failure from the block by counts alone, but a timeout next to a block of TLS
    resets is not the block.
    """
    seen: Counter[Method] = Counter(
        v.method for i in inside for v in cells[i].blocked if methods is None or v.method in methods
    )
    total = sum(seen.values())
    usual = {m for m, n in seen.items() if n >= share * total} | _new_technique(cells, inside)

    def foreign(i: int) -> bool:
        return all(
            v.method not in usual
            for v in cells[i].blocked
            if methods is None or v.method in methods
        )

    while len(inside) > 1 and foreign(inside[0]):
        inside = inside[1:]
    while len(inside) > 1 and foreign(inside[-1]):
        inside = inside[:-1]
    return inside


def _new_technique(cells: Series, inside: list[int]) -> set[Method]:
    """The methods a block switched to in its last buckets: each failed every one of them
    (two or more) and nothing before. Still rare in the block, they are not stray failures."""
    methods = [{v.method for v in cells[i].blocked} for i in inside]
    out: set[Method] = set()
    for m in methods[-1] if methods else ():
        j = 0
        while j < len(methods) and m in methods[-1 - j]:
            j += 1
        if j >= 2 and not any(m in here for here in methods[: len(methods) - j]):
            out.add(m)
    return out


def run_of(
    cells: Series,
    chunk: Sequence[int],
    inside: list[int],
    p: DetectorParams,
    last_chunk: bool,
    methods: Collection[Method] | None = None,
) -> Run:
    """The run over ``inside`` (first to last bucket of the block), with its evidence."""
    span = [i for i in chunk if inside[0] <= i <= inside[-1]]
    ks = [blocked_by(cells[i], methods) for i in span]
    k = sum(ks)
    n = sum(cells[i].n for i in span)
    q = min(max(k / n, p.levels[0]), p.levels[-1])
    llr = sum(
        bernoulli_cost(p.stray_rate, ki, cells[i].n) - bernoulli_cost(q, ki, cells[i].n)
        for i, ki in zip(span, ks, strict=True)
    )
    ongoing = last_chunk and not tail_ended(span, ks, sum(1 for i in chunk if i > inside[-1]), p)
    seen = frozenset(v.method for i in span for v in cells[i].blocked)
    return Run(tuple(span), llr, ongoing, seen if methods is None else frozenset(methods))


def tail_ended(span: Sequence[int], hits: Sequence[int], after: int, p: DetectorParams) -> bool:
    """Whether ``after`` open buckets at the end of the data say a block has ended.

    Counted in buckets, not measurements (a round's URLs escape together), and against the
    whole run: a block blocked in a share q of its N buckets shows a streak of m escapes
    somewhere with chance about N·(1-q)^m, so a tail streak ends it only when a streak that
    long would be unusual anywhere in it (q by Laplace's rule, (hits+1)/(N+2)). A live
    watcher then sees a sporadic block go on through its usual windows of access, and a
    steady block end within two or three rounds.
    """
    if after == 0:
        return False
    # Laplace's rule: a young run's share is uncertain (four hits in five rounds may be a
    # block at 0.3 availability), an old one's is not.
    q = (sum(1 for k in hits if k) + 1) / (len(span) + 2)
    return len(span) * (1.0 - q) ** after < p.ended_if_missed
