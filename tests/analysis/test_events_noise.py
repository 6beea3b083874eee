"""Event detection on noisy networks: stray failures of mixed methods are not censorship."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from eventsynth import ROUND, T0, verdicts

from blockwatch.analysis.events import analyse
from blockwatch.analysis.records import Event, Verdict

# What a flaky path gives an https URL: the network's failures, never a censor's answer.
STRAY = ("dns.timeout", "tcp.timeout", "tcp.reset", "tls.timeout", "tls.reset", "http.timeout")


def at(r: int) -> object:
    return T0 + r * ROUND


def noisy(vs: list[Verdict], rate: float, rng: random.Random) -> list[Verdict]:
    """Each open measurement fails on its own with chance ``rate``, with a random method."""
    return [
        replace(v, outcome="blocked", method=rng.choice(STRAY), confidence=0.9)
        if v.outcome == "ok" and rng.random() < rate
        else v
        for v in vs
    ]


def network_events(vs: list[Verdict]) -> list[Event]:
    return [e for e in analyse(vs).events if e.kind == "censorship" and e.probe_asn]


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.3])
def test_mixed_method_stray_failures_raise_no_event_and_a_short_block_is_still_found(
    rate: float,
) -> None:
    rng = random.Random(7)
    vs = verdicts("." * 100 + "B" * 6 + "." * 94, domain="x.com")
    for domain in ("wikipedia.org", "dawn.com", "bbc.com", "t.co"):
        vs += verdicts("." * 200, domain=domain)
    analysis = analyse(noisy(vs, rate, rng))
    # The network fails about `rate` of the time, any one method far less often.
    assert analysis.stray[("PK", "AS17557")] == pytest.approx(rate, abs=0.06)
    assert max(r for _, r in analysis.params_for(("PK", "AS17557", "x.com")).method_rates) < rate
    events = [e for e in analysis.events if e.kind == "censorship" and e.probe_asn]
    (event,) = events
    assert (event.domain, event.start, event.methods) == ("x.com", at(100), ("tls.reset",))
    # A stray reset right after the block may stretch it by a round or two, no more.
    assert event.end is not None and at(105) <= event.end <= at(107)  # type: ignore[operator]


def test_two_blocks_weeks_apart_are_not_bridged_by_stray_failures_between_them() -> None:
    # Three rounds blocked, four weeks open but for two stray resets, then a block with
    # escapes: two events, not one from the first block to the end.
    gap = "." * 10 + "B" + "." * 8 + "B" + "." * 7
    rng = random.Random(3)
    late = "".join("B" if rng.random() < 0.9 else "." for _ in range(150))
    vs = verdicts("." + "BBB" + gap + late, domain="twitter.com")
    for domain in ("wikipedia.org", "dawn.com"):
        vs += verdicts("." * (4 + len(gap) + 150), domain=domain)
    spans = [(e.start, e.end) for e in network_events(vs)]
    assert spans[0] == (at(1), at(3))
    assert len(spans) == 2 and spans[1][0] >= at(4 + len(gap))


def test_failures_of_several_methods_at_once_on_one_target_are_still_a_block() -> None:
    # A censor (or OONI's QA, many scenarios in a day) may fail one target several ways: no
    # method shows a block alone, but nearly every measurement failing is one.
    methods = ["dns.nxdomain", "tcp.reset", "tls.reset", "http.reset"] * 5
    vs = verdicts("." * 20 + "B" * 20 + "." * 20)
    vs = [
        replace(v, method=methods.pop()) if v.outcome == "blocked" else v for v in vs
    ]  # each method 5 times, scattered
    (event,) = network_events(vs)
    assert (event.start, event.end) == (at(20), at(39))
