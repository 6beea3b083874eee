"""Events kept current while measurements arrive: recompute only the countries touched.

Detection needs every network and target of a country (outage rules compare targets, and
country events pool the networks), so a country is the smallest scope that can be recomputed
on its own; the other countries' events are left as they are. This is what ``blockwatch
events --country CC`` does, so a live store and a recomputed one agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Event
from blockwatch.store import Filter, Store

__all__ = ["refresh_events"]


def refresh_events(store: Store, countries: Iterable[str]) -> list[Event]:
    """Recompute and store the events of ``countries``; returns them (all kinds)."""
    found: list[Event] = []
    for cc in sorted({c.upper() for c in countries if c}):
        scope = Filter(country=cc)
        detected = detect_events(store.verdicts(scope))
        store.replace_events(detected, scope)
        found.extend(detected)
    return found
