"""Buckets chosen from the data's density, and verdicts sorted into series cells."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eventsynth import T0, verdicts

from blockwatch.analysis.series import build_series, choose_grid


@pytest.mark.parametrize(
    ("step", "schedule", "expected"),
    [
        (timedelta(hours=6), "." * 50, timedelta(hours=6)),  # lab rounds: a bucket a round
        (timedelta(hours=4), ". ." * 20, timedelta(hours=4)),  # missing rounds stay regular
        (timedelta(hours=1), "." * 50, timedelta(hours=1)),  # an hourly probe
        (timedelta(hours=25), "." * 50, timedelta(days=2)),  # sparse: a bit over a day apart
        (timedelta(hours=20), "." * 50, timedelta(days=1)),  # sparse: about one a day
        (timedelta(hours=9), ". .  ..   . ..." * 4, timedelta(days=1)),  # irregular, ~2/day
    ],
)
def test_the_bucket_follows_the_density_of_the_data(
    step: timedelta, schedule: str, expected: timedelta
) -> None:
    vs = verdicts(schedule, step=step)
    if expected >= timedelta(days=1):
        # Real measurements are never on a clock: jitter them by minutes.
        vs = [
            v.__class__(
                **{
                    **{f: getattr(v, f) for f in v.__slots__},
                    "measured_at": v.measured_at + timedelta(minutes=37 * (i % 7)),
                }
            )
            for i, v in enumerate(vs)
        ]
    assert choose_grid(vs).step == expected


def test_lab_rounds_fall_in_their_own_bucket_whatever_the_start_time() -> None:
    vs = verdicts("." * 10, start=T0 + timedelta(hours=1, minutes=30))
    grid = choose_grid(vs)
    assert [grid.index(v.measured_at) for v in vs] == list(range(10))


def test_cells_count_outcomes_per_series() -> None:
    vs = verdicts(".BDX", per_round=2) + verdicts("..", domain="t.co")
    series = build_series(vs, choose_grid(vs))
    x = series[("PK", "AS17557", "x.com")]
    assert [(c.n, c.k, len(c.down), len(c.failed)) for _, c in sorted(x.items())] == [
        (2, 0, 0, 0),
        (2, 2, 0, 0),
        (0, 0, 2, 0),
        (0, 0, 0, 2),
    ]
    assert set(series) == {("PK", "AS17557", "x.com"), ("PK", "AS17557", "t.co")}
