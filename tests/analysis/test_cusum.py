"""OONI's CUSUM baseline, re-implemented: its behaviour, and the weak points we set out to beat."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eventsynth import ROUND, T0, sporadic, verdicts

from blockwatch.analysis.cusum import Cusum, CusumParams, alarm_times, cusum_events
from blockwatch.analysis.events import detect_events


@pytest.mark.parametrize(
    ("h", "delay_rounds"),
    [(7.0, 10), (3.5, 5)],  # each fully blocked cell adds 1 - 0.35 = 0.65 to s+
)
def test_a_total_block_is_flagged_after_h_over_065_cells(h: float, delay_rounds: int) -> None:
    vs = verdicts("." * 40 + "B" * 40)
    (event,) = cusum_events(vs, h=h)
    assert event.start == T0 + (40 + delay_rounds) * ROUND
    assert event.end is None


def test_the_block_ending_is_flagged_late_too() -> None:
    (event,) = cusum_events(verdicts("." * 40 + "B" * 30 + "." * 30), h=7.0)
    # Each open cell adds 0.7 - 0.35 to s-: about 20 cells to cross h = 7 (float rounding
    # decides between the 20th and 21st).
    assert (event.end - T0) / ROUND in (89, 90)


def test_the_median_hides_a_sporadic_block_below_half_that_our_counts_see() -> None:
    # Five URLs a round, each blocked independently 30% of the time: the cell median is
    # mostly 0, so the accumulator never climbs; counting the blocked ones sees the block.
    vs = []
    for u in range(5):
        vs += [
            replace(v, measurement_id=f"{v.measurement_id}-{u}", input=f"https://x.com/{u}")
            for v in verdicts(sporadic(200, (40, 160), 0.7, seed=u))
        ]
    assert cusum_events(vs, h=7.0) == []
    assert cusum_events(vs, h=3.5) == []
    ours = [e for e in detect_events(vs) if e.probe_asn]
    assert len(ours) == 1 and ours[0].availability == pytest.approx(0.7, abs=0.1)


def test_a_national_block_is_one_cusum_event_per_network_but_one_country_event_for_us() -> None:
    vs = []
    for n in range(6):
        vs += verdicts("." * 30 + "B" * 30, asn=f"AS{n + 1}")
    assert len(cusum_events(vs)) == 6
    assert len([e for e in detect_events(vs) if e.probe_asn is None]) == 1


def test_accumulators_halve_after_48_hours_without_data() -> None:
    det = Cusum(CusumParams(h=100.0))
    t = datetime(2024, 1, 1, tzinfo=UTC)
    det.step(t, 1.0)
    assert det.s_pos == pytest.approx(0.65)
    det.step(t + timedelta(hours=48), 1.0)
    assert det.s_pos == pytest.approx(0.65 / 2 + 0.65)
    det.step(t + timedelta(hours=60), 1.0)  # a 12 h gap: no decay
    assert det.s_pos == pytest.approx(0.65 / 2 + 0.65 + 0.65)


def test_an_unknown_start_settles_silently_without_a_changepoint() -> None:
    vs = verdicts("B" * 40)
    assert cusum_events(vs, params=CusumParams(initial_state="unk")) == []
    assert len(cusum_events(vs, params=CusumParams(initial_state="ok"))) == 1


def test_alarm_times_are_the_up_changepoints_per_series() -> None:
    alarms = alarm_times(verdicts("." * 10 + "B" * 20 + "." * 20 + "B" * 20), CusumParams())
    assert alarms == {("PK", "AS17557", "x.com"): [T0 + 20 * ROUND, T0 + 60 * ROUND]}
