"""Pacing networks: each at its own speed, within a window, meeting at internet changes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from blockwatch.errors import LabError
from blockwatch.lab.clock import NetworkState, Round
from blockwatch.lab.pacer import Pacer

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def plan(n: int, down_from: int | None = None) -> list[Round]:
    return [
        Round(
            i,
            T0 + i * timedelta(hours=6),
            {"A": NetworkState(False, ()), "B": NetworkState(False, ())},
            frozenset({"x.com"}) if down_from is not None and i >= down_from else frozenset(),
        )
        for i in range(n)
    ]


def play(rounds: list[Round], delays: dict[str, float]) -> tuple[list[int], list[str]]:
    events: list[str] = []
    lock = threading.Lock()
    progress = {"A": -1, "B": -1}

    def apply(rnd: Round) -> None:
        with lock:
            # the internet changes only once every network has finished the rounds before
            assert all(done == rnd.index - 1 for done in progress.values())
            events.append(f"internet@{rnd.index}")

    pacer = Pacer(rounds, ["A", "B"], apply)

    def loop(name: str, plan_: list[Round], p: Pacer) -> None:
        for rnd in plan_:
            p.wait_turn(name, rnd.index)
            with lock:
                ahead = rnd.index - min(progress.values())
                assert ahead <= Pacer.WINDOW
            time.sleep(delays[name])
            with lock:
                progress[name] = rnd.index
            p.done(name, rnd.index, [{"net": name, "round": rnd.index}])

    threads = [threading.Thread(target=pacer.guard, args=(n, loop, rounds, pacer)) for n in "AB"]
    for t in threads:
        t.start()
    got = [len(pacer.collect(r.index)) for r in rounds]
    for t in threads:
        t.join()
    return got, events


def test_every_round_collects_one_result_per_network_in_round_order() -> None:
    got, events = play(plan(20), {"A": 0.0, "B": 0.005})
    assert got == [2] * 20
    assert events == ["internet@0"]


def test_the_internet_changes_only_when_every_network_has_caught_up() -> None:
    got, events = play(plan(12, down_from=6), {"A": 0.0, "B": 0.01})
    assert got == [2] * 12
    assert events == ["internet@0", "internet@6"]


def test_a_failing_network_fails_the_run_instead_of_hanging() -> None:
    rounds = plan(3)
    pacer = Pacer(rounds, ["A", "B"], lambda rnd: None)

    def broken(name: str, plan_: list[Round], p: Pacer) -> None:
        raise LabError("probe died")

    for name in "AB":
        threading.Thread(target=pacer.guard, args=(name, broken, rounds, pacer)).start()
    with pytest.raises(LabError, match="probe died"):
        pacer.collect(0)


def test_lockstep_calls_between_once_a_round_before_any_network_goes_on() -> None:
    rounds = plan(5)
    started: dict[str, int] = {"A": -1, "B": -1}
    calls: list[int] = []
    lock = threading.Lock()

    def between(index: int) -> None:
        with lock:
            # the other network has finished this round, and nobody has begun the next
            assert max(started.values()) == index
            calls.append(index)

    pacer = Pacer(rounds, ["A", "B"], lambda _rnd: None, window=1, between=between)

    def loop(name: str, plan_: list[Round], p: Pacer) -> None:
        for rnd in plan_:
            p.wait_turn(name, rnd.index)
            with lock:
                started[name] = rnd.index
            time.sleep(0.001 if name == "A" else 0.003)
            p.done(name, rnd.index, [])

    threads = [threading.Thread(target=pacer.guard, args=(n, loop, rounds, pacer)) for n in "AB"]
    for t in threads:
        t.start()
    for r in rounds:
        pacer.collect(r.index)
    for t in threads:
        t.join()
    assert calls == [0, 1, 2, 3, 4]
