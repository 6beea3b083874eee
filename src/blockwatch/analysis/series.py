"""Series of verdicts: one per (country, ASN, domain), bucketed in time (DESIGN §5).

Pure: verdicts in, plain data out. The bucket size comes from the data's density: a lab run
or a probe measuring on a regular clock gets its own round interval as the bucket (so a
bucket is a round and errors can be counted in rounds); irregular data such as OONI's gets
the smallest step of a fixed ladder that is at least twice the typical gap (a day for a
few measurements a day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Final

from blockwatch.analysis.records import Verdict

SeriesKey = tuple[str, str, str]  # (probe_cc, probe_asn, domain)

# Measurements closer than this belong to the same round (a lab round stamps one virtual time,
# a real probe takes a few minutes to run its list).
SAME_ROUND: Final = timedelta(minutes=5)
LADDER: Final = tuple(timedelta(hours=h) for h in (1, 2, 3, 4, 6, 8, 12, 24, 48, 24 * 7))
DAY: Final = timedelta(days=1)
_SAME_ROUND_MINUTES: Final = SAME_ROUND.total_seconds() / 60


@dataclass(frozen=True, slots=True)
class Grid:
    """Bucket i covers [origin + i*step, origin + (i+1)*step)."""

    origin: datetime
    step: timedelta

    def index(self, t: datetime) -> int:
        return (t - self.origin) // self.step

    def at(self, i: int) -> datetime:
        return self.origin + i * self.step


@dataclass(slots=True)
class Cell:
    """The verdicts of one series in one bucket, split by outcome."""

    ok: list[Verdict] = field(default_factory=list)
    blocked: list[Verdict] = field(default_factory=list)
    down: list[Verdict] = field(default_factory=list)
    # Inconclusive web_connectivity measurements: the probe or the control failed. Evidence
    # for an outage, never for censorship.
    failed: list[Verdict] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Measurements that say something about censorship (ok or blocked)."""
        return len(self.ok) + len(self.blocked)

    @property
    def k(self) -> int:
        return len(self.blocked)

    @property
    def total(self) -> int:
        return len(self.ok) + len(self.blocked) + len(self.down) + len(self.failed)

    @property
    def failing(self) -> int:
        """Measurements that did not get through, whatever the reason."""
        return len(self.blocked) + len(self.down) + len(self.failed)


Series = dict[int, Cell]


def round_ticks(times: Iterable[datetime]) -> list[datetime]:
    """Distinct round times: sorted times with those within SAME_ROUND of the previous merged."""
    ticks: list[datetime] = []
    last: datetime | None = None
    for t in sorted(times):
        if last is None or t - last > SAME_ROUND:
            ticks.append(t)
        last = t
    return ticks


def _regular_step(ticks: Sequence[datetime]) -> timedelta | None:
    """The round interval when the ticks sit on a regular clock, else None.

    The step is the smallest common gap; the clock is regular when nearly every gap is a whole
    multiple of it (a missing round, as in an outage, is still on the clock). Three rounds
    are a clock when their two gaps are alike: a live observatory's third round is often
    where a block from the first round becomes plain, and a day's bucket would pool it away.
    """
    gaps = [b - a for a, b in pairwise(ticks)]
    if len(gaps) < 2:
        return None
    minutes = Counter(round(g.total_seconds() / 60) for g in gaps)
    if len(gaps) == 2:
        first, second = (round(g.total_seconds() / 60) for g in gaps)
        alike = abs(first - second) <= max(min(first, second) * 0.02, _SAME_ROUND_MINUTES)
        return timedelta(minutes=min(first, second)) if alike and first > 0 else None
    common = [m for m, c in minutes.items() if m > 0 and c >= 0.25 * len(gaps)]
    if not common:
        return None
    step = min(common)
    tolerance = max(step * 0.02, _SAME_ROUND_MINUTES)
    on_clock = sum(
        1
        for m, c in minutes.items()
        if abs(m - round(m / step) * step) <= tolerance
        for _ in range(c)
    )
    if on_clock >= 0.9 * len(gaps):
        return timedelta(minutes=step)
    return None


def _median(values: Sequence[timedelta]) -> timedelta:
    """statistics.median for durations (its type hints admit numbers only)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def choose_grid(verdicts: Sequence[Verdict]) -> Grid:
    """The bucket grid for these verdicts (see the module docstring)."""
    if not verdicts:
        return Grid(datetime(1970, 1, 1, tzinfo=UTC), DAY)
    ticks = round_ticks(v.measured_at for v in verdicts)
    step = _regular_step(ticks)
    if step is not None and step >= timedelta(minutes=1):
        # Anchor at the first round so every round falls in its own bucket.
        return Grid(ticks[0].replace(second=0, microsecond=0), step)
    by_series: dict[SeriesKey, list[datetime]] = {}
    for v in verdicts:
        by_series.setdefault((v.probe_cc, v.probe_asn, v.domain), []).append(v.measured_at)
    typical_gaps: list[timedelta] = []
    for times in by_series.values():
        series_ticks = round_ticks(times)
        gaps = [b - a for a, b in pairwise(series_ticks)]
        if gaps:
            typical_gaps.append(_median(gaps))
    typical = _median(typical_gaps) if typical_gaps else DAY
    # Off-clock data (OONI's volunteers) gets at least a day: shorter cells would mostly be
    # empty, and a day is the unit people ask about.
    step = max(DAY, next((s for s in LADDER if s >= typical), LADDER[-1]))
    return grid_with_step(verdicts, step)


def grid_with_step(verdicts: Sequence[Verdict], step: timedelta) -> Grid:
    """A grid of the given step anchored at midnight UTC before the first verdict."""
    first = min((v.measured_at for v in verdicts), default=datetime(1970, 1, 1, tzinfo=UTC))
    midnight = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Grid(midnight, step)


def usable(v: Verdict) -> bool:
    """Verdicts that belong in a series: a target (domain) and an outcome about it."""
    return bool(v.domain)


def build_series(verdicts: Iterable[Verdict], grid: Grid) -> dict[SeriesKey, Series]:
    """Bucket verdicts per (country, ASN, domain)."""
    out: dict[SeriesKey, Series] = {}
    for v in verdicts:
        if not usable(v):
            continue
        cells = out.setdefault((v.probe_cc, v.probe_asn, v.domain), {})
        cell = cells.get(grid.index(v.measured_at))
        if cell is None:
            cell = cells[grid.index(v.measured_at)] = Cell()
        if v.outcome == "ok":
            cell.ok.append(v)
        elif v.outcome == "blocked":
            cell.blocked.append(v)
        elif v.outcome == "down":
            cell.down.append(v)
        elif v.test_name == "web_connectivity":
            cell.failed.append(v)
    return out
