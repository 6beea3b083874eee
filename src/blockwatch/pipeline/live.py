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

__all__ = ["detect_country_events", "refresh_events", "store_country_events"]


def refresh_events(store: Store, countries: Iterable[str]) -> list[Event]:
    """Recompute and store the events of ``countries``; returns them (all kinds)."""
    found = detect_country_events(store, countries)
    store_country_events(store, found)
    return [e for detected in found.values() for e in detected]


def detect_country_events(store: Store, countries: Iterable[str]) -> dict[str, list[Event]]:
    """The events of each of ``countries`` as the store holds them now (reads only, through
    cursors: a thread may do this while the store's writer commits)."""
    return {
        cc: detect_events(store.verdicts(Filter(country=cc)))
        for cc in sorted({c.upper() for c in countries if c})
    }


def store_country_events(store: Store, found: dict[str, list[Event]]) -> None:
    """Replace each country's stored events with those ``detect_country_events`` found."""
    for cc, detected in found.items():
        store.replace_events(detected, Filter(country=cc))
