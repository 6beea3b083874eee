"""The baseline: OONI's CUSUM event detector (ooni/data ``analysis/detector.py``), re-implemented.

Per (country, ASN, domain) and hourly cell, the signal is the *median* of the measurements'
blocked scores (1 blocked, 0 ok or down; inconclusive left out). A state-aware two-sided CUSUM
with fixed means μ0 = 0 (open) and μ1 = 0.7 (blocked), v = μ1 - μ0:
- open state: s+ = max(0, s+ + y - μ0 - v/2), a changepoint "up" when s+ > h;
- blocked state: s- = max(0, s- - (y - μ1) - v/2), a changepoint "down" when s- > h;
- an "unknown" start state runs both and settles silently on the first crossing;
- after a gap of over 24 h both accumulators decay by 0.5^(gap / 48 h).
h = EDD·v/2: production uses EDD 10 (h = 3.5); the issue's h = 7 is EDD 20.

Differences, on purpose: one signal per series (blocked or not, whatever the method) rather
than OONI's four (dns_isp, dns_other, tcp, tls; it has no HTTP column), which can only help
the baseline; and the start state defaults to "ok", as for a series whose state production
has carried over from earlier days (a fresh "unk" series stays blind for h/(v/2) cells).
An event runs from an "up" changepoint to the next "down" one (or is ongoing): its start is
the detection time, which is what OONI publishes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Final, Literal

from blockwatch.analysis.grouping import methods_of, stable_event_id
from blockwatch.analysis.records import Event, Verdict

CELL: Final = timedelta(hours=1)
State = Literal["unk", "ok", "blk"]


@dataclass(frozen=True, slots=True)
class CusumParams:
    h: float = 7.0
    mu0: float = 0.0
    mu1: float = 0.7
    gap_halflife_hours: float = 48.0
    decay_after_hours: float = 24.0
    initial_state: State = "ok"


@dataclass(frozen=True, slots=True)
class Changepoint:
    at: datetime  # start of the cell where the accumulator crossed h
    direction: int  # +1 open -> blocked, -1 blocked -> open


@dataclass(slots=True)
class Cusum:
    """The detector's state for one series (OONI's CusumDetector, one signal)."""

    p: CusumParams
    state: State = "ok"
    s_pos: float = 0.0
    s_neg: float = 0.0
    last_ts: datetime | None = None

    def step(self, at: datetime, y: float) -> int:
        """Feed one cell's median; return +1/-1 on a changepoint, else 0."""
        v = self.p.mu1 - self.p.mu0
        if self.last_ts is not None:
            gap = (at - self.last_ts).total_seconds() / 3600.0
            if gap > self.p.decay_after_hours:
                decay = 0.5 ** (gap / self.p.gap_halflife_hours)
                self.s_pos *= decay
                self.s_neg *= decay
        self.last_ts = at
        up = max(0.0, self.s_pos + y - self.p.mu0 - v / 2.0)
        down = max(0.0, self.s_neg - (y - self.p.mu1) - v / 2.0)
        if self.state == "unk":
            self.s_pos, self.s_neg = up, down
            if up > self.p.h:
                self.state, self.s_pos, self.s_neg = "blk", 0.0, 0.0
            elif down > self.p.h:
                self.state, self.s_pos, self.s_neg = "ok", 0.0, 0.0
            return 0
        if self.state == "ok":
            self.s_pos, self.s_neg = up, 0.0
            if up > self.p.h:
                self.state, self.s_pos = "blk", 0.0
                return 1
            return 0
        self.s_neg, self.s_pos = down, 0.0
        if down > self.p.h:
            self.state, self.s_neg = "ok", 0.0
            return -1
        return 0


SeriesKey = tuple[str, str, str]


def cells(
    verdicts: Iterable[Verdict], cell: timedelta = CELL
) -> dict[SeriesKey, dict[datetime, list[Verdict]]]:
    """Verdicts per series and cell start (cells aligned on the epoch, like toStartOfHour)."""
    epoch = datetime(1970, 1, 1, tzinfo=None)
    out: dict[SeriesKey, dict[datetime, list[Verdict]]] = {}
    for v in verdicts:
        if not v.domain or v.outcome == "inconclusive":
            continue
        at = v.measured_at
        naive = at.replace(tzinfo=None)
        start = epoch + ((naive - epoch) // cell) * cell
        out.setdefault((v.probe_cc, v.probe_asn, v.domain), {}).setdefault(
            start.replace(tzinfo=at.tzinfo), []
        ).append(v)
    return out


def changepoints(series: dict[datetime, list[Verdict]], p: CusumParams) -> list[Changepoint]:
    det = Cusum(p, state=p.initial_state)
    out = []
    for at in sorted(series):
        y = median(1.0 if v.outcome == "blocked" else 0.0 for v in series[at])
        d = det.step(at, y)
        if d:
            out.append(Changepoint(at, d))
    return out


def cusum_events(
    verdicts: Iterable[Verdict],
    h: float = 7.0,
    *,
    params: CusumParams | None = None,
    cell: timedelta = CELL,
) -> list[Event]:
    """The baseline's censorship events, one per up/down changepoint pair, per series."""
    p = params or CusumParams(h=h)
    events: list[Event] = []
    for key, series in sorted(cells(verdicts, cell).items()):
        events.extend(_events(key, series, changepoints(series, p)))
    return sorted(events, key=lambda e: (e.start, e.probe_cc, e.probe_asn or "", e.domain or ""))


def _events(
    key: SeriesKey, series: dict[datetime, list[Verdict]], cps: list[Changepoint]
) -> list[Event]:
    cc, asn, domain = key
    out: list[Event] = []
    start: datetime | None = None
    bounds: list[tuple[datetime, datetime | None]] = []
    for cp in cps:
        if cp.direction > 0 and start is None:
            start = cp.at
        elif cp.direction < 0 and start is not None:
            bounds.append((start, cp.at))
            start = None
    if start is not None:
        bounds.append((start, None))
    for begin, end in bounds:
        inside = [
            v for at, vs in series.items() if at >= begin and (end is None or at < end) for v in vs
        ]
        blocked = sorted((v for v in inside if v.outcome == "blocked"), key=lambda v: v.measured_at)
        conclusive = [v for v in inside if v.outcome in ("ok", "blocked")]
        ok = len(conclusive) - len(blocked)
        out.append(
            Event(
                event_id=stable_event_id("cusum", cc, asn, domain, begin),
                kind="censorship",
                probe_cc=cc,
                probe_asn=asn,
                domain=domain,
                start=begin,
                end=end,
                methods=methods_of(blocked),
                availability=round(ok / len(conclusive), 3) if conclusive else 0.0,
                confidence=1.0,
                measurements=tuple(v.measurement_id for v in blocked),
            )
        )
    return out


def alarm_times(
    verdicts: Iterable[Verdict], p: CusumParams, cell: timedelta = CELL
) -> dict[SeriesKey, list[datetime]]:
    """Per series, the times of the baseline's "up" changepoints (for detection delay)."""
    return {
        key: [cp.at for cp in changepoints(series, p) if cp.direction > 0]
        for key, series in cells(verdicts, cell).items()
    }
