"""Alerts: events recomputed by the collector become changes, and changes become webhook
deliveries; the feeds read the store's events directly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from blockwatch.alerts.changes import Change, diff, series_key
from blockwatch.alerts.feed import event_title
from blockwatch.alerts.hooks import Hooks
from blockwatch.analysis.records import Event
from blockwatch.store import Store
from blockwatch.store.state import State
from blockwatch.times import iso_z, parse_iso

__all__ = ["Alerts", "event_payload"]


def event_payload(e: Event) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "kind": e.kind,
        "probe_cc": e.probe_cc,
        "probe_asn": e.probe_asn,
        "domain": e.domain,
        "start": iso_z(e.start),
        "end": iso_z(e.end) if e.end else None,
        "methods": list(e.methods),
        "availability": e.availability,
        "confidence": e.confidence,
        "networks": sorted({n.probe_asn for n in e.networks}),
        "measurements": len(e.measurements),
    }


class Alerts:
    """``on_events`` is the collector's listener: it diffs, queues and remembers."""

    def __init__(self, store: Store, base_url: str) -> None:
        self.hooks = Hooks(store)
        self.series = State(store, "alerts.series")
        self.pending = State(store, "alerts.pending")
        self.base_url = base_url.rstrip("/")
        self.found: list[Change] = []  # every change found since start (tests, status)

    def payload(self, change: Change, as_of: datetime | None = None) -> dict[str, Any]:
        event = event_payload(change.event)
        label = "censorship" if change.event.kind == "censorship" else "outage (not censorship)"
        return {
            "change": change.change,
            "label": label,
            "detail": change.detail,
            "as_of": iso_z(as_of),  # the newest measurement the change was decided on
            "title": f"{change.change}: {event_title(event)}",
            "event": event,
            "links": {
                "event": f"{self.base_url}/event/{change.event.event_id}",
                "report": f"{self.base_url}/event/{change.event.event_id}/report.html",
            },
        }

    def on_events(
        self,
        events: Sequence[Event],
        since: datetime | None,
        latest: datetime | None = None,
        previous: datetime | None = None,
    ) -> list[Change]:
        """Diff, then alert. While a round uploads, its bucket is half filled, and a change
        that rests on it alone (a network "out" because its blocked sites were measured
        first) is not news yet: a change is alerted at once when the data before this
        upload (up to ``previous``) already shows it, else when a later refresh, on newer
        data, finds it again."""
        snapshots = dict(self.series.items())
        # A change waiting for confirmation is news still, though its episode may be over
        # before this upload (an outage round delivered late, over by the next round).
        waited = [parse_iso(str(v["since"])) for _, v in self.pending.items() if v.get("since")]
        if since is not None and waited:
            since = min(since, *waited)
        changes, updated = diff(events, snapshots, since)
        settled: list[Change] = []
        waiting: set[str] = set()
        horizon = (iso_z(latest) or "") if latest else ""
        for change in changes:
            seen = self.pending.get(change.pending_key)
            confirmed = seen is not None and str(seen.get("horizon", "")) < horizon
            if confirmed or _shown_before(change, previous):
                self.hooks.queue(change.key, self.payload(change, latest))
                if seen is not None:
                    self.pending.delete(change.pending_key)
                settled.append(change)
            else:
                waiting.add(series_key(change.event))
                if seen is None:
                    record = {"horizon": horizon, "since": iso_z(since) if since else None}
                    self.pending.put(change.pending_key, record)
        for key, snap in updated.items():
            if key not in waiting and snapshots.get(key) != snap:
                self.series.put(key, snap)
        self.found += settled
        return settled


def _shown_before(change: Change, previous: datetime | None) -> bool:
    """Whether the data up to ``previous`` holds the change's moment (not the new bucket)."""
    if previous is None:
        return False
    e = change.event
    if change.change == "started":
        return e.start <= previous
    if change.change == "ended":
        return e.end is not None and e.end <= previous
    # A network joining an event: said at once when its own part began before this round.
    return change.since is not None and change.since <= previous
