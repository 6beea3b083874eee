"""From verdicts to events: "is X blocked here, since when, on which networks, how fully?"

Per (country, ASN, domain) series, each bucket holds k blocked out of n conclusive
measurements. We keep the counts (not OONI's per-cell median) and segment each series with a
small hidden-Markov model: one "open" state where a measurement fails with a stray rate ε,
and blocked states at fixed blocking levels q (availability 1-q from 0.8 down to 0.005). A
bucket costs its Bernoulli log-likelihood, k·log q + (n-k)·log(1-q); entering a block, leaving
it and changing level cost fixed penalties. The cheapest path (Viterbi; the model lives in
``blockwatch.analysis.segment``) gives the events:
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
from datetime import timedelta

from blockwatch.analysis.grouping import group_by_country, methods_of, stable_event_id
from blockwatch.analysis.outage import OutageParams, Outages, detect_outages
from blockwatch.analysis.records import Event, Verdict
from blockwatch.analysis.segment import (
    LEVELS,
    DetectorParams,
    Run,
    alarm_times,
    run_of,
    segment,
    trim_foreign_edges,
)
from blockwatch.analysis.series import (
    Cell,
    Grid,
    Series,
    SeriesKey,
    build_series,
    choose_grid,
    grid_with_step,
)

__all__ = [
    "LEVELS",
    "Analysis",
    "DetectorParams",
    "Run",
    "alarm_times",
    "analyse",
    "detect_events",
    "network_event",
    "segment",
]


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
                inside = trim_foreign_edges(
                    cells, [i for i in data if lo <= i <= hi and cells[i].k]
                )
                if sum(cells[i].k for i in inside) < 2:
                    continue
                run = run_of(cells, data, inside, p, last_chunk=True)
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
