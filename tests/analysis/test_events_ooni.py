"""Event detection on real OONI data at daily buckets (skips where ../shared/data is absent)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from blockwatch.analysis.cusum import cusum_events
from blockwatch.analysis.events import analyse, detect_events
from blockwatch.analysis.records import Verdict
from blockwatch.analysis.verdict import analyze
from blockwatch.errors import BlockwatchError
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import iter_documents

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def br_series(ooni_data: Path) -> list[Verdict]:
    """OONI's detector test series: womenonwaves.org from Brazil, Nov 2018 - Sep 2019, as
    verdicts (an anomaly is a blocked measurement; the rows carry no network or method)."""
    path = ooni_data / "series" / "detector_query_ww_BR_2018.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    rows = json.loads(path.read_text())
    return [
        Verdict(
            measurement_id=f"br-{i}",
            measured_at=datetime.fromisoformat(r["measurement_start_time"]).replace(tzinfo=UTC),
            probe_cc=r["probe_cc"],
            probe_asn="AS0",
            input=r["input"],
            domain="www.womenonwaves.org",
            test_name=r["test_name"],
            outcome="blocked" if r["anomaly"] else "ok",
        )
        for i, r in enumerate(rows)
    ]


def test_the_brazil_series_shows_its_two_visible_blocking_stretches_and_a_quiet_gap(
    br_series: list[Verdict],
) -> None:
    analysis = analyse(br_series)
    assert analysis.grid.step == DAY
    events = [e for e in analysis.events if e.kind == "censorship" and e.probe_asn]
    assert len(events) == 2
    first, second = events
    # Weekly counts: nothing blocked until 19 Nov 2018, a third blocked until early January,
    # quiet from mid January to late February, then two thirds blocked to the end.
    assert date(2018, 11, 18) <= first.start.date() <= date(2018, 11, 26)
    assert first.end is not None and date(2018, 12, 30) <= first.end.date() <= date(2019, 1, 14)
    assert 0.5 <= first.availability <= 0.75
    assert date(2019, 2, 24) <= second.start.date() <= date(2019, 3, 11)
    assert second.end is None or second.end.date() >= date(2019, 9, 20)
    assert 0.2 <= second.availability <= 0.45


def test_the_cusum_baseline_misses_the_sporadic_first_stretch_of_the_brazil_series(
    br_series: list[Verdict],
) -> None:
    starts = [e.start.date() for e in cusum_events(br_series, h=7.0)]
    assert not any(date(2018, 11, 1) <= s <= date(2019, 1, 31) for s in starts)


@pytest.fixture(scope="module")
def real_verdicts(ooni_data: Path) -> list[Verdict]:
    out = []
    for item in iter_documents([ooni_data]):
        if isinstance(item, BlockwatchError):
            continue
        try:
            out.append(analyze(parse_measurement(item.doc, item.source, item.line)))
        except BlockwatchError:
            continue
    if not out:
        pytest.skip("no OONI measurements could be read")
    return out


def test_real_measurements_raise_no_alarm_on_series_with_at_most_stray_failures(
    real_verdicts: list[Verdict],
) -> None:
    blocked = Counter(
        (v.probe_cc, v.probe_asn, v.domain) for v in real_verdicts if v.outcome == "blocked"
    )
    events = detect_events(real_verdicts, bucket=DAY)
    flagged = {
        (e.probe_cc, e.probe_asn, e.domain)
        for e in events
        if e.kind == "censorship" and e.probe_asn
    }
    # Every alarm rests on several blocked measurements; lone ones from scattered probes never
    # make an event.
    assert all(blocked[key] >= 3 for key in flagged)
    lone = {key for key, n in blocked.items() if n <= 2}
    assert lone and not (lone & flagged)


def test_ooni_qa_scenarios_of_one_simulated_network_and_day_are_one_event_per_target(
    real_verdicts: list[Verdict],
) -> None:
    qa = [v for v in real_verdicts if v.probe_asn == "AS137"]  # OONI's QA runs all say AS137
    events = [e for e in detect_events(qa, bucket=DAY) if e.kind == "censorship"]
    per_target = Counter((e.probe_asn, e.domain) for e in events)
    assert per_target and max(per_target.values()) == 1
