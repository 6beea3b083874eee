"""Pacing the networks of a lab run: each plays its rounds at its own speed, within bounds.

Networks are independent (each has its own censor and probe), so a network stuck in
slow rounds (throttling, timeouts, an outage) need not hold the others up. Only the
internet's state (site outages) is shared: a round with a different internet waits for
every network to finish the rounds before it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from blockwatch.errors import LabError
from blockwatch.lab.clock import Round


class Pacer:
    """Lets each network run its rounds at its own pace, within bounds.

    A network may run ahead of the slowest by at most ``WINDOW`` rounds (bounded memory),
    and never into a round whose internet state (site outages, shared by all networks)
    differs from the one in force: there every network waits for the others, and the
    internet changes once they all have finished the rounds before.
    """

    WINDOW = 8

    def __init__(
        self,
        plan: list[Round],
        networks: list[str],
        apply: Callable[[Round], None],
        window: int = WINDOW,
        between: Callable[[int], None] | None = None,
    ) -> None:
        self.window = window  # 1: lockstep (an observatory decides on whole rounds)
        # Lockstep only: called once every network has finished round i, before any starts
        # round i+1 (the observatory settles its events on the whole round there).
        self.between = between
        self.plan = plan
        self.networks = networks
        self.apply_internet = apply
        self.next_round = dict.fromkeys(networks, 0)
        self.results: dict[int, dict[str, list[dict[str, Any]]]] = {}
        self.cond = threading.Condition()
        self.error: BaseException | None = None
        self.aborted = False
        self.internet_upto = -1  # rounds up to this index have their internet state
        self._internet_state: frozenset[str] | None = None

    def guard(self, name: str, loop: Any, plan: list[Round], pacer: Pacer) -> None:
        try:
            loop(name, plan, pacer)
        except BaseException as exc:  # reported by collect() in the main thread
            with self.cond:
                self.error = self.error or exc
                self.cond.notify_all()

    def _slowest(self) -> int:
        return min(self.next_round.values())

    def _check(self) -> None:
        if self.error is not None:
            raise LabError(f"a network's rounds failed: {self.error}") from self.error
        if self.aborted:
            raise LabError("the run was stopped")

    def wait_turn(self, name: str, index: int) -> None:
        with self.cond:
            while True:
                self._check()
                if index <= self.internet_upto and index < self._slowest() + self.window:
                    return
                if index > self.internet_upto and self._slowest() == index:
                    self._advance_internet(index)  # every network is here: change it now
                    continue
                self.cond.wait(timeout=1.0)

    def _advance_internet(self, index: int) -> None:
        state = self.plan[index].sites_down
        if state != self._internet_state:
            self.apply_internet(self.plan[index])
            self._internet_state = state
        end = index
        while end + 1 < len(self.plan) and self.plan[end + 1].sites_down == state:
            end += 1
        self.internet_upto = end
        self.cond.notify_all()

    def done(self, name: str, index: int, docs: list[dict[str, Any]]) -> None:
        with self.cond:
            last = all(n == name or r > index for n, r in self.next_round.items())
            if last and self.between is not None:
                self.between(index)  # under the lock: no network starts the next round yet
            self.results.setdefault(index, {})[name] = docs
            self.next_round[name] = index + 1
            self.cond.notify_all()

    def collect(self, index: int) -> list[dict[str, Any]]:
        """The measurements of round ``index`` from every network, in scenario order."""
        with self.cond:
            while len(self.results.get(index, {})) < len(self.networks):
                self._check()
                self.cond.wait(timeout=1.0)
            got = self.results.pop(index)
        return [d for name in self.networks for d in got[name]]

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.cond.notify_all()
