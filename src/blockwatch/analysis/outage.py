"""Censorship or outage? (DESIGN §5)

A censor picks targets; an outage takes everything. A bucket is an outage of a network when
most of the targets it measured failed at once *including targets that are normally
reachable there*, or when most of its measurements failed on the control side too (the
analyzer's "down", or an inconclusive measurement whose control request failed). A bucket is
an outage of a site when that site is "down" (control fails too) on the networks measuring
it. A collapse in a network's measurement volume while its neighbours keep measuring is an
outage too (the probes in a shutdown cannot report). Outage buckets are reported as outage
events and hidden from the censorship detector, so they can never become censorship.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from blockwatch.analysis.grouping import methods_of, stable_event_id
from blockwatch.analysis.records import Event, Verdict
from blockwatch.analysis.series import Cell, Grid, Series, SeriesKey

NetKey = tuple[str, str]  # (probe_cc, probe_asn)
SiteKey = tuple[str, str]  # (probe_cc, domain)


@dataclass(frozen=True, slots=True)
class OutageParams:
    """Thresholds of the outage rules (shares are of targets or measurements in a bucket)."""

    most_targets: float = 0.8  # "most targets at once"
    clean_share: float = 0.2  # a target blocked less than this over the data is normally up
    control_failed: float = 0.5  # share of measurements failing on the control side too
    min_targets: int = 2  # one target failing is that target's business, not the network's
    volume_floor: float = 0.2  # a bucket below this share of the usual volume has collapsed
    volume_min: float = 5.0  # volume collapse needs a usual volume of at least this many
    noise_floor: float = 0.02  # a network's stray failure rate is taken to be at least this
    by_chance: float = 0.001  # clean targets failing together this likely by noise: no outage
    # A bucket that measured fewer than this share of the network's usual targets is too thin
    # to call an outage from failing targets: a live store's newest bucket is often half
    # uploaded, and if its blocked sites came first it would look like "everything fails".
    min_coverage: float = 0.5


@dataclass(slots=True)
class Outages:
    """Outage buckets per network and per site, and the outage events built from them."""

    networks: dict[NetKey, set[int]] = field(default_factory=dict)
    sites: dict[SiteKey, set[int]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def masked(self, key: SeriesKey, index: int) -> bool:
        cc, asn, domain = key
        return index in self.networks.get((cc, asn), ()) or index in self.sites.get(
            (cc, domain), ()
        )


def _by_network(series: dict[SeriesKey, Series]) -> dict[NetKey, dict[str, Series]]:
    out: dict[NetKey, dict[str, Series]] = {}
    for (cc, asn, domain), cells in series.items():
        out.setdefault((cc, asn), {})[domain] = cells
    return out


def _clean_domains(per_domain: dict[str, Series], p: OutageParams) -> set[str]:
    """Targets normally reachable: no single method blocks them ``clean_share`` of the time
    (a noisy network fails every target often, but with mixed methods; a censor repeats one)."""
    clean = set()
    for domain, cells in per_domain.items():
        n = sum(c.n for c in cells.values())
        per_method = Counter(v.method for c in cells.values() for v in c.blocked)
        if n and all(k < p.clean_share * n for k in per_method.values()):
            clean.add(domain)
    return clean


def _noise(per_domain: dict[str, Series], clean: set[str], p: OutageParams) -> float:
    """The network's stray failure rate: the median blocked share of its clean targets."""
    rates = sorted(
        sum(c.k for c in per_domain[d].values()) / n
        for d in clean
        if (n := sum(c.n for c in per_domain[d].values()))
    )
    return max(p.noise_floor, rates[len(rates) // 2] if rates else 0.0)


def _network_outage(
    cells: dict[str, Cell], clean: set[str], p: OutageParams, noise: float = 0.0
) -> bool:
    measured = {d: c for d, c in cells.items() if c.total}
    if len(measured) < p.min_targets:
        return False
    # A target fails when nothing got through: one stray failure of two URLs is not a loss.
    failing = {d for d, c in measured.items() if c.failing == c.total}
    # Control side failing on most targets: the network (or our path to the world) is down.
    control = {d for d, c in measured.items() if (len(c.down) + len(c.failed)) * 2 >= c.total}
    if len(control) >= max(p.min_targets, p.control_failed * len(measured)) and len(
        failing
    ) >= p.most_targets * len(measured):
        return True
    clean_here = clean & measured.keys()
    if not clean_here or len(failing) < p.most_targets * len(measured):
        return False
    # One clean target failing is that target's bad luck on a noisy network, not an outage.
    need = max(min(p.min_targets, len(clean)), p.most_targets * len(clean_here))
    if len(failing & clean_here) < need:
        return False
    # On a network failing at random, its few clean measurements may all fail by chance.
    failed = sum(measured[d].failing for d in failing & clean_here)
    return max(noise, p.noise_floor) ** failed < p.by_chance


def _volume_collapses(
    by_net: dict[NetKey, dict[str, Series]], p: OutageParams
) -> dict[NetKey, set[int]]:
    volume: dict[NetKey, dict[int, int]] = {}
    for net, per_domain in by_net.items():
        counts: dict[int, int] = {}
        for cells in per_domain.values():
            for i, c in cells.items():
                counts[i] = counts.get(i, 0) + c.total
        volume[net] = counts
    usual = {net: median(c.values()) for net, c in volume.items() if c}
    out: dict[NetKey, set[int]] = {}
    for net, counts in volume.items():
        if usual.get(net, 0) < p.volume_min:
            continue
        peers = [
            other
            for other in volume
            if other != net and other[0] == net[0] and usual.get(other, 0) >= p.volume_min
        ]
        lo, hi = min(counts), max(counts)
        for i in range(lo, hi + 1):
            if counts.get(i, 0) >= p.volume_floor * usual[net]:
                continue
            # Only a collapse if the neighbours kept measuring (else the whole lab/test paused).
            if any(volume[o].get(i, 0) >= 0.5 * usual[o] for o in peers):
                out.setdefault(net, set()).add(i)
    return out


def _runs(indices: Iterable[int], data: Iterable[int]) -> list[list[int]]:
    """Group outage indices into runs not interrupted by a non-outage bucket that has data."""
    flagged = set(indices)
    runs: list[list[int]] = []
    current: list[int] = []
    for i in sorted(set(data) | flagged):
        if i in flagged:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _outage_event(
    cc: str,
    asn: str | None,
    domain: str | None,
    run: list[int],
    cells: list[Cell],
    grid: Grid,
    ongoing: bool,
) -> Event:
    verdicts: list[Verdict] = [v for c in cells for v in (*c.ok, *c.blocked, *c.down, *c.failed)]
    failing = [v for c in cells for v in (*c.blocked, *c.down, *c.failed)]
    times = [v.measured_at for v in verdicts]
    start: datetime = min(times) if times else grid.at(run[0])
    end: datetime | None = max(times) if times else grid.at(run[-1] + 1)
    ok = sum(len(c.ok) for c in cells)
    total = len(verdicts)
    return Event(
        event_id=stable_event_id("outage", cc, asn, domain, start),
        kind="outage",
        probe_cc=cc,
        probe_asn=asn,
        domain=domain,
        start=start,
        end=None if ongoing else end,
        methods=methods_of(failing),
        availability=round(ok / total, 3) if total else 0.0,
        confidence=round(len(failing) / total, 3) if total else 0.5,
        measurements=tuple(v.measurement_id for v in sorted(failing, key=_order)),
    )


def _order(v: Verdict) -> tuple[datetime, str]:
    return (v.measured_at, v.measurement_id)


def detect_outages(
    series: dict[SeriesKey, Series], grid: Grid, params: OutageParams | None = None
) -> Outages:
    """Outage buckets and outage events (network-wide: domain None; site-wide: ASN None)."""
    p = params or OutageParams()
    result = Outages()
    by_net = _by_network(series)
    collapses = _volume_collapses(by_net, p)
    for (cc, asn), per_domain in sorted(by_net.items()):
        clean = _clean_domains(per_domain, p)
        noise = _noise(per_domain, clean, p)
        indices = sorted({i for cells in per_domain.values() for i in cells})
        targets = {i: sum(1 for cells in per_domain.values() if i in cells) for i in indices}
        usual = median(targets.values()) if targets else 0
        flagged: set[int] = set()
        before: dict[str, set[str | None]] = {}  # per target, what its last open bucket failed
        for i in indices:
            here = {d: cells[i] for d, cells in per_domain.items() if i in cells}
            # A target failing as it did in the bucket before is in a block, not in trouble
            # now: a block young next to the history (four rounds on most targets) still
            # passes for "normally reachable" by its share, and would pass for an outage.
            going_on = {
                d
                for d, cell in here.items()
                if {v.method for v in cell.blocked} & before.get(d, set())
            }
            if targets[i] >= p.min_coverage * usual and _network_outage(
                here, clean - going_on, p, noise
            ):
                flagged.add(i)
                continue
            for d, cell in here.items():
                before[d] = {v.method for v in cell.blocked}
        flagged |= collapses.get((cc, asn), set())
        if not flagged:
            continue
        result.networks[(cc, asn)] = flagged
        last = indices[-1]
        for run in _runs(flagged, indices):
            hit = [c for i in run for by_index in per_domain.values() if (c := by_index.get(i))]
            result.events.append(
                _outage_event(cc, asn, None, run, hit, grid, ongoing=run[-1] >= last)
            )
    by_site: dict[SiteKey, dict[int, list[Cell]]] = {}
    for (cc, asn, domain), by_index in series.items():
        for i, c in by_index.items():
            if i in result.networks.get((cc, asn), ()):
                continue  # already explained by the network's outage
            by_site.setdefault((cc, domain), {}).setdefault(i, []).append(c)
    for (cc, domain), buckets in sorted(by_site.items()):
        flagged = set()
        for i, group in buckets.items():
            total = sum(c.total for c in group)
            # Only "down" (the control failed too) speaks of the site; an inconclusive
            # measurement may just lack data (no test keys, a probe error).
            down = sum(len(c.down) for c in group)
            if total and down >= p.control_failed * total:
                flagged.add(i)
        if not flagged:
            continue
        result.sites[(cc, domain)] = flagged
        last = max(buckets)
        for run in _runs(flagged, buckets):
            hit = [c for i in run for c in buckets[i]]
            if sum(len(c.down) for c in hit) < 2:
                continue  # one stray "down" is not an outage worth reporting
            result.events.append(
                _outage_event(cc, None, domain, run, hit, grid, ongoing=run[-1] >= last)
            )
    return result
