"""What changed in an observatory's events: started, changed, ended (pure).

Events are recomputed as data arrives, and a recomputation may move an event's start by a
bucket or two, which changes its id. So changes are found per *series* (kind, country, network,
domain) against a snapshot of what was last alerted, not by event id: the same episode keeps
its snapshot however its edges move, and a snapshot kept in the store makes alerts survive a
restart without repeating.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from blockwatch.analysis.records import Event
from blockwatch.times import iso_z, parse_iso

__all__ = ["Change", "availability_band", "diff", "series_key", "snapshot"]

ChangeKind = Literal["started", "changed", "ended"]

# Availability bands (share of measurements that got through); crossing one is a change.
BANDS: Final = ((0.05, "total"), (0.5, "mostly blocked"), (0.95, "intermittent"))


def availability_band(availability: float) -> str:
    for bound, name in BANDS:
        if availability < bound:
            return name
    return "sporadic"


@dataclass(frozen=True, slots=True)
class Change:
    change: ChangeKind
    event: Event
    detail: str
    since: datetime | None = None  # when what changed began (a new network's own start)

    @property
    def pending_key(self) -> str:
        """The same change across recomputations that move the event's edges."""
        detail = self.detail if self.change == "changed" else ""
        return f"{self.change}|{series_key(self.event)}|{detail}"

    @property
    def key(self) -> str:
        """Names this change once: the same change found twice has the same key."""
        return f"{self.change}|{series_key(self.event)}|{iso_z(self.event.start)}|{self.detail}"


def series_key(e: Event) -> str:
    return f"{e.kind}|{e.probe_cc}|{e.probe_asn or '*'}|{e.domain or '*'}"


def _networks(e: Event) -> dict[str, str | None]:
    """Each network of the event -> when its part ended (None: ongoing)."""
    if e.probe_asn:
        return {e.probe_asn: iso_z(e.end)}
    return {n.probe_asn: iso_z(n.end) for n in sorted(e.networks, key=lambda n: n.probe_asn)}


def snapshot(e: Event) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "start": iso_z(e.start),
        "end": iso_z(e.end) if e.end else None,
        "methods": sorted(e.methods),
        "networks": _networks(e),
        "band": availability_band(e.availability),
    }


def _same_episode(e: Event, snap: dict[str, Any]) -> bool:
    end = snap.get("end")
    return end is None or e.start <= parse_iso(end)


def _updates(e: Event, snap: dict[str, Any]) -> list[Change]:
    out = []
    now, before = _networks(e), dict(snap["networks"])
    new_networks = sorted(set(now) - set(before))
    if new_networks:
        began = [n.start for n in e.networks if n.probe_asn in new_networks]
        detail = "new networks: " + ", ".join(new_networks)
        out.append(Change("changed", e, detail, max(began) if began else None))
    if e.end is None:  # the event's own end says it for all of its networks
        ended = sorted(a for a, end in now.items() if end and a in before and not before[a])
        if ended:
            out.append(Change("changed", e, "ended on " + ", ".join(ended)))
    new_methods = sorted(set(e.methods) - set(snap["methods"]))
    if new_methods:
        out.append(Change("changed", e, "new methods: " + ", ".join(new_methods)))
    band = availability_band(e.availability)
    if band != snap["band"]:
        out.append(Change("changed", e, f"availability now {band} (was {snap['band']})"))
    if snap.get("end") is None and e.end is not None:
        out.append(Change("ended", e, f"ended {iso_z(e.end)}"))
    return out


def diff(
    events: Iterable[Event], snapshots: dict[str, dict[str, Any]], since: datetime | None
) -> tuple[list[Change], dict[str, dict[str, Any]]]:
    """Changes of the top-level ``events`` against ``snapshots`` (series key -> last alerted
    state), and the snapshots to keep. An episode over before ``since`` (history a new server
    finds in its store) is remembered without an alert."""
    changes: list[Change] = []
    updated: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda x: x.start):
        if e.parent_event_id is not None:
            continue  # a network's part of a country event: the country event speaks for it
        key = series_key(e)
        snap = updated.get(key, snapshots.get(key))
        if snap is not None and e.end is not None and e.end < parse_iso(snap["start"]):
            continue  # an earlier episode of the series, over before the one remembered
        if snap is not None and _same_episode(e, snap):
            changes += _updates(e, snap)
        elif since is None or e.end is None or e.end >= since:
            changes.append(Change("started", e, f"started {iso_z(e.start)}"))
            if e.end is not None:
                changes.append(Change("ended", e, f"ended {iso_z(e.end)}"))
        updated[key] = snapshot(e)
    return changes, updated
