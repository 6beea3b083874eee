"""A block already on when the data begins: no open baseline before it, so it is seen on the
evidence of its first rounds (a live observatory's first rounds are such a series)."""

from __future__ import annotations

from dataclasses import replace

from eventsynth import verdicts

from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Verdict
from blockwatch.analysis.series import choose_grid


def _one_url_of_two(schedule: str) -> list[Verdict]:
    """x.com's https URL follows ``schedule`` (an SNI block), its http URL gets through, and
    wikipedia.org is open: the shape of the lab's ``outage`` technique scenario."""
    https = verdicts(schedule)
    http = [
        replace(v, measurement_id=v.measurement_id + "-http", input="http://x.com/")
        for v in verdicts("".join("X" if c == "X" else "." for c in schedule))
    ]
    control = verdicts("".join("X" if c == "X" else "." for c in schedule), domain="wikipedia.org")
    return https + http + control


def _censorship(vs: list[Verdict]) -> list[tuple[str | None, str | None]]:
    return [(e.probe_asn, e.domain) for e in detect_events(vs) if e.kind == "censorship"]


def test_a_block_from_the_first_round_is_an_event_by_its_third_round() -> None:
    vs = _one_url_of_two("BBB")
    events = [e for e in detect_events(vs) if e.kind == "censorship" and e.probe_asn]
    assert [(e.domain, e.start, e.end, e.methods) for e in events] == [
        ("x.com", vs[0].measured_at, None, ("tls.reset",))
    ]


def test_an_outage_round_neither_ends_nor_splits_a_block_from_the_first_round() -> None:
    events = [e for e in detect_events(_one_url_of_two("BBBXBBB")) if e.probe_asn]
    assert sorted((e.kind, e.end is None) for e in events) == [
        ("censorship", True),
        ("outage", False),
    ]


def test_stray_failures_at_the_start_are_not_a_block() -> None:
    # One round, or two of one URL of two, then open rounds: not three rounds of one method.
    assert _censorship(_one_url_of_two("B....")) == []
    assert _censorship(_one_url_of_two("BB...")) == []
    assert _censorship(_one_url_of_two("B.B..")) == []


def test_three_rounds_on_a_clock_are_a_bucket_each() -> None:
    vs = verdicts("...")
    grid = choose_grid(vs)
    assert sorted({grid.index(v.measured_at) for v in vs}) == [0, 1, 2]
