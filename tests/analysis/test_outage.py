"""Censorship or outage: failures across a network's targets, or on the control side too."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from eventsynth import ROUND, T0, verdicts

from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Verdict

N = 80
SITES = ("wikipedia.org", "bbc.com", "dawn.com")


def network(
    asn: str, x_schedule: str, outage: tuple[int, int] | None = None, fail: str = "X"
) -> list[Verdict]:
    """x.com per ``x_schedule`` plus three never-blocked sites; during ``outage`` (rounds,
    inclusive) every target fails the way ``fail`` says."""
    schedules = {"x.com": x_schedule, **{s: "." * N for s in SITES}}
    out: list[Verdict] = []
    for domain, schedule in schedules.items():
        if outage:
            a, b = outage
            schedule = schedule[:a] + fail * (b - a + 1) + schedule[b + 1 :]
        out += verdicts(schedule, asn=asn, domain=domain, per_round=2)
    return out


@pytest.mark.parametrize(
    ("fail", "what"),
    [
        ("X", "probe and control both fail (inconclusive)"),
        ("D", "the control fails too (down)"),
        ("B", "every target looks blocked, even never-blocked ones"),
    ],
)
def test_a_network_losing_every_target_at_once_is_an_outage_never_censorship(
    fail: str, what: str
) -> None:
    events = detect_events(network("AS1", "." * N, outage=(40, 43), fail=fail))
    assert [e.kind for e in events] == ["outage"], what
    (outage,) = events
    assert outage.probe_asn == "AS1" and outage.domain is None
    assert outage.start == T0 + 40 * ROUND and outage.end == T0 + 43 * ROUND


def test_an_outage_inside_a_block_neither_splits_it_nor_becomes_censorship() -> None:
    x = "." * 20 + "B" * (N - 20)
    events = detect_events(network("AS1", x, outage=(40, 43), fail="B"))
    kinds = sorted((e.kind, e.probe_asn is None) for e in events)
    assert kinds == [("censorship", False), ("censorship", True), ("outage", False)]
    (block,) = [e for e in events if e.kind == "censorship" and e.probe_asn]
    assert block.start == T0 + 20 * ROUND and block.end is None


def test_a_site_down_everywhere_is_a_site_outage_not_censorship() -> None:
    schedule = "." * 30 + "D" * 6 + "." * 44
    vs = verdicts(schedule, asn="AS1", domain="bbc.com") + verdicts(
        schedule, asn="AS2", domain="bbc.com"
    )
    vs += verdicts("." * N, asn="AS1", domain="dawn.com")
    (event,) = detect_events(vs)
    assert event.kind == "outage" and event.domain == "bbc.com" and event.probe_asn is None
    assert event.start == T0 + 30 * ROUND and event.end == T0 + 35 * ROUND


def test_a_censor_blocking_most_sites_but_not_the_clean_ones_is_not_an_outage() -> None:
    vs = verdicts("." * N, asn="AS1", domain="wikipedia.org", per_round=2)
    for domain in ("x.com", "twitter.com", "t.co", "abs.twimg.com", "pbs.twimg.com"):
        vs += verdicts("." * 20 + "B" * 60, asn="AS1", domain=domain, per_round=2)
    events = detect_events(vs)
    assert {e.kind for e in events} == {"censorship"}
    assert len([e for e in events if e.probe_asn is None]) == 5


def test_a_volume_collapse_while_neighbours_keep_measuring_is_an_outage() -> None:
    vs: list[Verdict] = []
    for asn in ("AS1", "AS2"):
        for domain in SITES:
            schedule = "." * N
            if asn == "AS1":
                schedule = "." * 30 + " " * 5 + "." * 45  # AS1's probes went silent
            vs += verdicts(schedule, asn=asn, domain=domain, per_round=2)
    events = detect_events(vs)
    assert [(e.kind, e.probe_asn) for e in events] == [("outage", "AS1")]


def test_a_site_whose_measurements_say_nothing_is_neither_an_outage_nor_censorship() -> None:
    # Inconclusive only (e.g. OONI rows without test keys): no data, not a site that is down.
    vs = verdicts("X" * 30, asn="AS1", domain="bbc.com") + verdicts(
        "X" * 30, asn="AS2", domain="bbc.com"
    )
    assert detect_events(vs) == []


def test_a_noisy_network_whose_two_clean_targets_fail_by_chance_in_a_round_has_no_outage() -> None:
    # Seven of nine targets blocked; the two clean ones (one URL each) fail 20 % of the time
    # at random, with mixed methods. A round where both fail by chance is not an outage: on
    # this network that happens every ~25 rounds.
    rng = random.Random(11)
    methods = ("dns.timeout", "tcp.timeout", "tls.reset", "tls.timeout", "http.timeout")
    vs = []
    for domain in ("wikipedia.org", "dawn.com"):
        vs += [
            replace(v, outcome="blocked", method=rng.choice(methods)) if rng.random() < 0.2 else v
            for v in verdicts("." * 200, asn="AS1", domain=domain)
        ]
    for domain in ("x.com", "twitter.com", "t.co", "api.twitter.com", "abs.twimg.com"):
        vs += verdicts("B" * 200, asn="AS1", domain=domain, method="dns.nxdomain")
    both = {v.measured_at for v in vs if v.domain == "wikipedia.org" and v.outcome == "blocked"}
    both &= {v.measured_at for v in vs if v.domain == "dawn.com" and v.outcome == "blocked"}
    assert both, "the seed gives rounds where both clean targets fail"
    assert [e for e in detect_events(vs) if e.kind == "outage"] == []
