"""From verdicts to events: "is X blocked here, since when, on which networks, how fully?"

Per (country, ASN, domain) series, each bucket holds k blocked out of n conclusive
measurements. We keep the counts (not OONI's per-cell median) and segment each series with a
small hidden-Markov model: one "open" state where a measurement fails with a stray rate ε,
and blocked states at fixed blocking levels q (availability 1-q from 0.8 down to 0.005). A
bucket costs its Bernoulli log-likelihood, k·log q + (n-k)·log(1-q); entering a block, leaving
it and changing level cost fixed penalties. The cheapest path (Viterbi) gives the events:
- a sporadic block is one event at a low level, not twenty short ones (leaving and coming back
  costs more than the escaped rounds in between);
- a single stray failure is not an event (it costs less than entering and leaving);
- an event that ends and restarts after a clear stretch of access is two events.
Buckets that outage detection claimed carry no evidence. Everything here is pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from blockwatch.analysis.grouping import group_by_country, methods_of, stable_event_id
from blockwatch.analysis.outage import OutageParams, Outages, detect_outages
from blockwatch.analysis.records import Event, Verdict
from blockwatch.analysis.series import (
    Cell,
    Grid,
    Series,
    SeriesKey,
    build_series,
    choose_grid,
    grid_with_step,
)

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
            inside = _trim_foreign_edges(cells, [i for i in chunk[pos : end + 1] if cells[i].k])
            if inside:
                runs.append(_run(cells, chunk, inside, p, last_chunk=c_no == len(chunks) - 1))
            pos = end + 1
    return runs


def _trim_foreign_edges(cells: Series, inside: list[int], share: float = 0.1) -> list[int]:
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


def _run(
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


def _confidence(llr: float, blocked: Sequence[Verdict]) -> float:
    """Evidence (1 - e^(-llr/10)) scaled by how sure the verdicts themselves were."""
    strength = 1.0 - math.exp(-max(llr, 0.0) / 10.0)
    sure = sum(v.confidence for v in blocked) / len(blocked) if blocked else 0.0
    return round(strength * (0.5 + 0.5 * min(max(sure, 0.0), 1.0)), 3)


def network_event(key: SeriesKey, cells: Series, run: Run) -> tuple[Event, int]:
    """The network-level censorship event of one run, and the measurements it rests on."""
    cc, asn, domain = key
    span: list[Cell] = [cells[i] for i in run.indices]
    blocked = sorted((v for c in span for v in c.blocked), key=lambda v: v.measured_at)
    ok = sum(len(c.ok) for c in span)
    n = ok + len(blocked)
    start = blocked[0].measured_at
    return (
        Event(
            event_id=stable_event_id("censorship", cc, asn, domain, start),
            kind="censorship",
            probe_cc=cc,
            probe_asn=asn,
            domain=domain,
            start=start,
            end=None if run.ongoing else blocked[-1].measured_at,
            methods=methods_of(blocked),
            availability=round(ok / n, 3),
            confidence=_confidence(run.llr, blocked),
            measurements=tuple(v.measurement_id for v in blocked),
        ),
        n,
    )


def _pooled(series: dict[SeriesKey, Series], outages: Outages) -> dict[tuple[str, str], Series]:
    """Per (country, domain), the unmasked cells of every network summed bucket by bucket."""
    networks: dict[tuple[str, str], int] = {}
    for cc, _asn, domain in series:
        networks[(cc, domain)] = networks.get((cc, domain), 0) + 1
    pooled: dict[tuple[str, str], Series] = {}
    for key, cells in series.items():
        cc, _asn, domain = key
        if networks[(cc, domain)] < 2:
            continue  # one network: its own segmentation already said all there is
        target = pooled.setdefault((cc, domain), {})
        for i, c in cells.items():
            if c.n and not outages.masked(key, i):
                cell = target.setdefault(i, Cell())
                cell.ok.extend(c.ok)
                cell.blocked.extend(c.blocked)
    return pooled


def _assisted_runs(
    series: dict[SeriesKey, Series],
    outages: Outages,
    runs: dict[SeriesKey, list[Run]],
    params_for: Callable[[SeriesKey], DetectorParams],
) -> dict[SeriesKey, list[Run]]:
    """Short blocks a network shows too briefly to stand alone, inside a country-wide block.

    A nationwide disruption of three rounds is plain when the networks are pooled, while each
    network alone may fall short of the entry cost. Where the pooled series of a domain is
    blocked and a network has no event there, the network gets one if its own evidence over
    the window reaches ``assisted_evidence`` with at least two blocked measurements.
    """
    extra: dict[SeriesKey, list[Run]] = {}
    for (cc, domain), pooled in _pooled(series, outages).items():
        keys = [k for k in series if k[0] == cc and k[2] == domain]
        # The pooled series is as noisy as its noisiest network.
        pooled_p = max((params_for(k) for k in keys), key=lambda q: q.stray_rate)
        for window in segment(pooled, pooled_p):
            lo, hi = window.indices[0], window.indices[-1]
            for key in keys:
                p = params_for(key)
                if any(r.indices[0] <= hi and r.indices[-1] >= lo for r in runs.get(key, [])):
                    continue
                cells = series[key]
                data = [i for i in sorted(cells) if cells[i].n and not outages.masked(key, i)]
                inside = _trim_foreign_edges(
                    cells, [i for i in data if lo <= i <= hi and cells[i].k]
                )
                if sum(cells[i].k for i in inside) < 2:
                    continue
                run = _run(cells, data, inside, p, last_chunk=True)
                if run.llr >= p.assisted_evidence:
                    extra.setdefault(key, []).append(run)
    return extra


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything detection computed, for callers (scoring, charts) that need the inside."""

    grid: Grid
    series: dict[SeriesKey, Series]
    outages: Outages
    events: list[Event]
    params: DetectorParams
    stray: dict[tuple[str, str], float]  # (cc, asn) -> the network's stray failure rate

    def masked(self, key: SeriesKey) -> set[int]:
        return {i for i in self.series.get(key, {}) if self.outages.masked(key, i)}

    def params_for(self, key: SeriesKey) -> DetectorParams:
        return with_stray_rate(self.params, self.stray.get((key[0], key[1]), 0.0))


def with_stray_rate(p: DetectorParams, rate: float) -> DetectorParams:
    """The model for a network failing at ``rate`` for no censorship reason: ε at least that,
    and only blocking levels clearly above it."""
    eps = min(max(rate, p.stray_rate), p.max_stray_rate)
    if eps == p.stray_rate:
        return p
    levels = tuple(q for q in p.levels if q >= 2 * eps) or p.levels[-1:]
    return replace(p, stray_rate=eps, levels=levels)


def stray_rates(
    series: dict[SeriesKey, Series], outages: Outages, p: DetectorParams
) -> dict[tuple[str, str], float]:
    """Per network, how often its normally reachable targets fail: its noise.

    Noise hits every target alike, a censor picks some: the lower median of the per-target
    failure rates over targets blocked less than ``clean_share`` of the time (30 or more
    measurements each) is not moved by a lightly blocked target among them.
    """
    rates: dict[tuple[str, str], list[float]] = {}
    for key, cells in series.items():
        live = [c for i, c in cells.items() if c.n and not outages.masked(key, i)]
        k, n = sum(c.k for c in live), sum(c.n for c in live)
        if n >= 30 and k < p.clean_share * n:
            rates.setdefault((key[0], key[1]), []).append(k / n)
    return {net: sorted(r)[(len(r) - 1) // 2] for net, r in rates.items()}


def analyse(
    verdicts: Iterable[Verdict],
    *,
    bucket: timedelta | None = None,
    params: DetectorParams | None = None,
    outage_params: OutageParams | None = None,
) -> Analysis:
    """Series, outages and events of a set of verdicts."""
    p = params or DetectorParams()
    items = list(verdicts)
    grid = grid_with_step(items, bucket) if bucket else choose_grid(items)
    series = build_series(items, grid)
    outages = detect_outages(series, grid, outage_params)
    network_events: list[Event] = []
    sizes: dict[str, int] = {}
    stray = stray_rates(series, outages, p)

    def params_for(key: SeriesKey) -> DetectorParams:
        return with_stray_rate(p, stray.get((key[0], key[1]), 0.0))

    runs: dict[SeriesKey, list[Run]] = {}
    for key in sorted(series):
        masked = {i for i in series[key] if outages.masked(key, i)}
        runs[key] = segment(series[key], params_for(key), masked)
    for key, extra in _assisted_runs(series, outages, runs, params_for).items():
        runs[key] = sorted(runs[key] + extra, key=lambda r: r.indices[0])
    for key in sorted(runs):
        for run in runs[key]:
            event, n = network_event(key, series[key], run)
            network_events.append(event)
            sizes[event.event_id] = n
    grouped = group_by_country(network_events, sizes, join_gap=grid.step * p.join_gap_buckets)
    events = sorted(
        grouped + outages.events,
        key=lambda e: (e.start, e.kind, e.probe_cc, e.domain or "", e.probe_asn or ""),
    )
    return Analysis(grid, series, outages, events, p, stray)


def detect_events(
    verdicts: Iterable[Verdict],
    *,
    bucket: timedelta | None = None,
    params: DetectorParams | None = None,
) -> list[Event]:
    """Censorship events (network and country level) and outage events, sorted by start."""
    return analyse(verdicts, bucket=bucket, params=params).events
