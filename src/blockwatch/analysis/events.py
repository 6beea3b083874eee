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
Buckets that outage detection claimed carry no evidence. A network's stray rate is learnt
per method from its normally reachable targets, and a block is counted on its own methods
only (a censor repeats one method, a flaky path mixes them). Everything here is pure.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from statistics import median

from blockwatch.analysis.alarms import alarm_times
from blockwatch.analysis.grouping import group_by_country, methods_of, stable_event_id
from blockwatch.analysis.outage import OutageParams, Outages, detect_outages
from blockwatch.analysis.records import Event, Verdict
from blockwatch.analysis.segment import (
    LEVELS,
    DetectorParams,
    Method,
    Run,
    blocked_by,
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
    # Failures of other methods than the block's are stray: they count as escapes.
    blocked = sorted(
        (v for c in span for v in c.blocked if v.method in run.methods),
        key=lambda v: v.measured_at,
    )
    n = sum(c.n for c in span)
    ok = n - len(blocked)
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
        # The pooled series is as noisy as its noisiest network, method by method.
        # A target's own stray rate is a single series' matter: none for the pooled one.
        pooled_p = replace(
            params_for(keys[0]), method_rates=_noisiest(keys, params_for), own_rate_doubt=0.0
        )
        for window in segment(pooled, pooled_p):
            lo, hi = window.indices[0], window.indices[-1]
            for key in keys:
                if any(r.indices[0] <= hi and r.indices[-1] >= lo for r in runs.get(key, [])):
                    continue
                run = _own_evidence(series[key], outages, key, window, params_for(key))
                if run is not None:
                    extra.setdefault(key, []).append(run)
    return extra


def _noisiest(
    keys: list[SeriesKey], params_for: Callable[[SeriesKey], DetectorParams]
) -> tuple[tuple[Method, float], ...]:
    worst: dict[Method, float] = {}
    for key in keys:
        for m, rate in params_for(key).method_rates:
            worst[m] = max(worst.get(m, 0.0), rate)
    return tuple(sorted(worst.items(), key=lambda kv: kv[0] or ""))


def _own_evidence(
    cells: Series, outages: Outages, key: SeriesKey, window: Run, p: DetectorParams
) -> Run | None:
    """A network's own run inside a pooled block, if it starts with the block and its own
    evidence there is enough."""
    lo, hi = window.indices[0], window.indices[-1]
    data = [i for i in sorted(cells) if cells[i].n and not outages.masked(key, i)]
    hit = [i for i in data if lo <= i <= hi and blocked_by(cells[i], window.methods)]
    inside = trim_foreign_edges(cells, hit, window.methods)
    # One disruption on several networks starts on them together: a network's stray failures
    # weeks into another network's long block are not its share of it.
    if not inside or inside[0] - lo > p.join_gap_buckets:
        return None
    if sum(blocked_by(cells[i], window.methods) for i in inside) < 2:
        return None
    mp = p.for_methods(window.methods)
    run = run_of(cells, data, inside, mp, last_chunk=True, methods=window.methods)
    return run if run.llr >= p.assisted_evidence else None


NetKey = tuple[str, str]  # (probe_cc, probe_asn)


@dataclass(frozen=True, slots=True)
class Noise:
    """A network's stray failures: its rate over all methods, and per method."""

    rate: float
    methods: tuple[tuple[Method, float], ...]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything detection computed, for callers (scoring, charts) that need the inside."""

    grid: Grid
    series: dict[SeriesKey, Series]
    outages: Outages
    events: list[Event]
    params: DetectorParams
    noise: dict[NetKey, Noise]

    @property
    def stray(self) -> dict[NetKey, float]:
        """Per network, the stray failure rate of its normally reachable targets."""
        return {net: n.rate for net, n in self.noise.items()}

    def masked(self, key: SeriesKey) -> set[int]:
        return {i for i in self.series.get(key, {}) if self.outages.masked(key, i)}

    def params_for(self, key: SeriesKey) -> DetectorParams:
        return with_noise(self.params, self.noise.get((key[0], key[1])))


def with_noise(p: DetectorParams, noise: Noise | None) -> DetectorParams:
    """The model of one network: its per-method stray rates (ε is chosen per block)."""
    if noise is None:
        return p
    return replace(p, method_rates=noise.methods, network_rate=noise.rate)


def _lower_median(values: Sequence[float]) -> float:
    return sorted(values)[(len(values) - 1) // 2]


def stray_rates(
    series: dict[SeriesKey, Series], outages: Outages, p: DetectorParams
) -> dict[NetKey, Noise]:
    """Per network, how often its normally reachable targets fail, and with which methods.

    Noise hits every target alike, a censor picks some: a target (30 or more measurements)
    is a gauge when no single method fails it ``clean_share`` of the time or more. A
    method's rate is the median over the gauges (the lower median would be biased low for the
    small per-method counts), the overall rate their lower median; neither is moved by one
    lightly blocked target among them. A flaky path spreads its failures over many methods,
    so a network failing 25 % of the time may still fail with any one method rarely.
    """
    gauges: dict[NetKey, list[tuple[int, dict[Method, float]]]] = {}
    crowds = _crowds(series)
    for key, cells in series.items():
        live = [i for i in sorted(cells) if cells[i].n and not outages.masked(key, i)]
        n = sum(cells[i].n for i in live)
        per_method = Counter(v.method for i in live for v in cells[i].blocked)
        if n >= 30 and all(k < p.clean_share * n for k in per_method.values()):
            scattered = scattered_failures(cells, live, crowds[(key[0], key[1])])
            gauges.setdefault((key[0], key[1]), []).append((n, scattered))
    out: dict[NetKey, Noise] = {}
    for net, targets in gauges.items():
        methods = {m for _, per in targets for m in per}
        rates = {
            m: median([per.get(m, 0.0) / n for n, per in targets])
            for m in sorted(methods, key=lambda m: m or "")
        }
        total = _lower_median([sum(per.values()) / n for n, per in targets])
        out[net] = Noise(total, tuple((m, r) for m, r in rates.items() if r > 0))
    return out


def _crowds(series: dict[SeriesKey, Series]) -> dict[NetKey, dict[int, Counter[Method]]]:
    """Per network and bucket, how many targets failed with each method."""
    out: dict[NetKey, dict[int, Counter[Method]]] = {}
    for (cc, asn, _domain), cells in series.items():
        per = out.setdefault((cc, asn), {})
        for i, c in cells.items():
            per.setdefault(i, Counter()).update({v.method for v in c.blocked})
    return out


def scattered_failures(
    cells: Series, live: Sequence[int], crowd: dict[int, Counter[Method]]
) -> dict[Method, float]:
    """Per method, the failures of a target that look like noise, scaled for the bias.

    Noise is scattered in time and independent across targets; a block repeats its method
    round after round, often on several targets at once. A failure counts when neither
    neighbouring bucket failed with the same method and no two other targets failed with it
    in the same bucket. A block young next to the history (four rounds of NXDOMAIN on most
    targets after thirty open ones) would otherwise pass for a high stray rate of its method
    and hide itself. Scattered noise of a method failing a share f of the buckets loses
    about 1-(1-f)² of its failures to the first rule; each count is scaled back by that.
    """
    methods = [{v.method for v in cells[i].blocked} for i in live]
    kept: Counter[Method] = Counter()
    hit: Counter[Method] = Counter()
    for n, i in enumerate(live):
        hit.update(methods[n])
        before = methods[n - 1] if n > 0 else set()
        after = methods[n + 1] if n + 1 < len(live) else set()
        kept.update(
            v.method
            for v in cells[i].blocked
            if v.method not in before and v.method not in after and crowd[i][v.method] <= 2
        )
    return {m: k / max((1.0 - hit[m] / len(live)) ** 2, 0.25) for m, k in kept.items()}


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
    noise = stray_rates(series, outages, p)

    def params_for(key: SeriesKey) -> DetectorParams:
        return with_noise(p, noise.get((key[0], key[1])))

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
    return Analysis(grid, series, outages, events, p, noise)


def detect_events(
    verdicts: Iterable[Verdict],
    *,
    bucket: timedelta | None = None,
    params: DetectorParams | None = None,
) -> list[Event]:
    """Censorship events (network and country level) and outage events, sorted by start."""
    return analyse(verdicts, bucket=bucket, params=params).events
