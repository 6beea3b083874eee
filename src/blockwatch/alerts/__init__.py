"""Alerts when an event starts, changes or ends: Atom feeds per filter, and signed webhooks
with retries and dead letters, deduplicated across restarts (state kept in the store)."""

from blockwatch.alerts.changes import Change, availability_band, diff
from blockwatch.alerts.feed import atom_feed, event_title
from blockwatch.alerts.hooks import Hooks, Subscription, sign
from blockwatch.alerts.routes import alerts_router
from blockwatch.alerts.service import Alerts, event_payload

__all__ = [
    "Alerts",
    "Change",
    "Hooks",
    "Subscription",
    "alerts_router",
    "atom_feed",
    "availability_band",
    "diff",
    "event_payload",
    "event_title",
    "sign",
]
