"""Event detection on synthetic series: one table row per situation the issue names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from eventsynth import ROUND, T0, combine, sporadic, verdicts

from blockwatch.analysis.events import DetectorParams, alarm_times, analyse, detect_events, segment
from blockwatch.analysis.records import Event


def censorship(events: list[Event], level: str = "network") -> list[Event]:
    want_network = level == "network"
    return [
        e for e in events if e.kind == "censorship" and (e.probe_asn is not None) == want_network
    ]


def at(r: int) -> object:
    return T0 + r * ROUND


@dataclass(frozen=True)
class Case:
    name: str
    schedule: str
    spans: list[tuple[int, int | None]]  # expected (first, last) blocked round; None: ongoing
    availability: list[float]
    per_round: int = 1


SPORADIC = sporadic(200, (50, 150), 0.3, seed=1)
SPORADIC_TRUE_AVAILABILITY = SPORADIC[50:151].count(".") / 101
CASES = [
    Case("total block", "." * 40 + "B" * 30 + "." * 30, [(40, 69)], [0.0]),
    Case("total block, two URLs a round", "." * 40 + "B" * 30 + "." * 30, [(40, 69)], [0.0], 2),
    Case(
        "sporadic block at 0.3 availability",
        SPORADIC,
        [(SPORADIC.index("B"), SPORADIC.rindex("B"))],
        [SPORADIC_TRUE_AVAILABILITY],
    ),
    Case(
        "block that ends and restarts",
        "." * 20 + "B" * 20 + "." * 10 + "B" * 20 + "." * 10,
        [(20, 39), (50, 69)],
        [0.0, 0.0],
    ),
    Case("still ongoing at the end of the data", "." * 30 + "B" * 25, [(30, None)], [0.0]),
    Case("single stray failure", "." * 40 + "B" + "." * 40, [], []),
    Case("two stray failures a week apart", "." * 20 + "B" + "." * 28 + "B" + "." * 20, [], []),
    Case("accessible all along", "." * 100, [], []),
    Case(
        "sparse data with holes: one measurement on some days",
        (".  . .. ." * 4) + ("B B  BB B" * 3) + (". .. . ." * 3),
        [(36, 36 + 8 + 18)],
        [0.0],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_situation_gives_the_expected_network_events(case: Case) -> None:
    events = censorship(detect_events(verdicts(case.schedule, per_round=case.per_round)))
    spans = [
        (round((e.start - T0) / ROUND), None if e.end is None else round((e.end - T0) / ROUND))
        for e in events
    ]
    assert spans == case.spans
    for event, availability in zip(events, case.availability, strict=True):
        assert event.availability == pytest.approx(availability, abs=0.1)


def test_a_sporadic_block_is_one_event_whose_measurements_are_its_blocked_ones() -> None:
    vs = verdicts(SPORADIC)
    (event,) = censorship(detect_events(vs))
    assert set(event.measurements) == {v.measurement_id for v in vs if v.outcome == "blocked"}
    assert event.methods == ("tls.reset",)
    assert 0.5 < event.confidence <= 1.0


def test_sparse_daily_data_gets_daily_buckets_and_still_finds_the_block() -> None:
    schedule = "." * 20 + "B" * 10 + "." * 20
    vs = verdicts(schedule, step=timedelta(days=1) + timedelta(hours=1))
    analysis = analyse(vs)
    assert analysis.grid.step >= timedelta(days=1)
    (event,) = censorship(analysis.events)
    assert event.start.date() == vs[20].measured_at.date()


def test_two_networks_blocking_one_domain_make_one_country_event_with_each_span() -> None:
    vs = combine(
        verdicts("." * 20 + "B" * 30 + "." * 20, asn="AS17557"),
        verdicts("." * 25 + "B" * 35 + "." * 10, asn="AS9541", method="dns.nxdomain"),
        verdicts("." * 70, asn="AS135407"),
    )
    events = detect_events(vs)
    (country,) = censorship(events, "country")
    networks = censorship(events)
    assert country.probe_asn is None and country.domain == "x.com"
    assert country.start == at(20) and country.end == at(59)
    assert {(n.probe_asn, n.start, n.end) for n in country.networks} == {
        ("AS17557", at(20), at(49)),
        ("AS9541", at(25), at(59)),
    }
    assert set(country.methods) == {"tls.reset", "dns.nxdomain"}
    assert {e.parent_event_id for e in networks} == {country.event_id}


def test_a_block_that_ends_and_restarts_gives_two_country_events() -> None:
    vs = verdicts("." * 20 + "B" * 20 + "." * 20 + "B" * 20, asn="AS1") + verdicts(
        "." * 20 + "B" * 20 + "." * 20 + "B" * 20, asn="AS2"
    )
    assert len(censorship(detect_events(vs), "country")) == 2


def test_event_ids_are_stable_across_runs_and_input_order() -> None:
    vs = verdicts("." * 20 + "B" * 20 + "." * 20)
    first = [e.event_id for e in detect_events(vs)]
    again = [e.event_id for e in detect_events(list(reversed(vs)))]
    assert first == again and len(set(first)) == len(first)


def test_down_and_inconclusive_measurements_are_never_evidence_of_censorship() -> None:
    vs = verdicts("." * 20 + "D" * 10 + "X" * 10 + "." * 20)
    assert censorship(detect_events(vs)) == []


def test_the_online_alarm_fires_within_one_round_of_a_total_block_with_two_urls() -> None:
    vs = verdicts("." * 40 + "B" * 30, per_round=2)
    analysis = analyse(vs)
    cells = next(iter(analysis.series.values()))
    alarms = alarm_times(cells, analysis.grid, DetectorParams())
    assert alarms and alarms[0] - at(40) <= ROUND


def test_segment_ignores_masked_buckets() -> None:
    vs = verdicts("." * 20 + "B" * 10 + "." * 20)
    analysis = analyse(vs)
    cells = next(iter(analysis.series.values()))
    masked = {i for i in cells if cells[i].k}
    assert segment(cells, DetectorParams(), masked) == []


def test_a_stray_failure_of_another_kind_next_to_a_sporadic_block_does_not_move_its_start() -> None:
    schedule = "." * 30 + "B" + "." + sporadic(60, (0, 59), 0.3, seed=2) + "." * 20
    vs = verdicts(schedule)
    stray_at = T0 + 30 * ROUND
    vs = [
        v.__class__(**{**{f: getattr(v, f) for f in v.__slots__}, "method": "tcp.timeout"})
        if v.measured_at == stray_at
        else v
        for v in vs
    ]
    (event,) = censorship(detect_events(vs))
    assert event.start == at(32 + schedule[32:].index("B"))
    assert event.methods == ("tls.reset",)


def test_a_three_round_national_disruption_is_found_on_every_network_by_pooling() -> None:
    # One URL of two fails for three rounds on each network: too little for one network
    # alone (one event needs ~12 nats), plain when the networks are pooled.
    schedule = "." * 30 + "B" * 3 + "." * 30
    alone = verdicts(schedule, asn="AS1", per_round=1)
    ok = verdicts("." * 63, asn="AS1", per_round=1)
    per_network = [
        [v.__class__(**{**{f: getattr(v, f) for f in v.__slots__}, "probe_asn": asn,
                        "measurement_id": f"{asn}-{v.measurement_id}"})
         for v in (*alone, *[replace_input(o) for o in ok])]
        for asn in ("AS1", "AS2", "AS3")
    ]  # fmt: skip
    one = censorship(detect_events(per_network[0]))
    assert one == []
    events = censorship(detect_events([v for vs in per_network for v in vs]))
    assert sorted(e.probe_asn for e in events) == ["AS1", "AS2", "AS3"]
    assert all(e.start == at(30) and e.end == at(32) for e in events)
    assert all(e.availability == pytest.approx(0.5) for e in events)


def replace_input(v: object) -> object:
    return v.__class__(
        **{**{f: getattr(v, f) for f in v.__slots__}, "input": "http://x.com/",
           "measurement_id": v.measurement_id + "-http"}  # type: ignore[attr-defined]
    )  # fmt: skip


def test_a_noisy_network_learns_its_stray_rate_and_raises_no_false_event() -> None:
    import random

    rng = random.Random(5)

    def noisy(schedule: str) -> str:
        return "".join("B" if c == "." and rng.random() < 0.1 else c for c in schedule)

    vs = verdicts(noisy("." * 40 + "B" * 30 + "." * 130), domain="x.com")
    for domain in ("wikipedia.org", "dawn.com", "bbc.com"):
        vs += verdicts(noisy("." * 200), domain=domain, method="tcp.timeout")
    analysis = analyse(vs)
    assert analysis.stray[("PK", "AS17557")] == pytest.approx(0.1, abs=0.04)
    events = censorship(analysis.events)
    assert [(e.domain, e.start, e.end) for e in events] == [("x.com", at(40), at(69))]
