"""Alerts waiting for newer data: a change found on a half-uploaded round is said on the next
refresh, even when its episode was over before that refresh's new data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from blockwatch.alerts.service import Alerts
from blockwatch.analysis.records import Event
from blockwatch.store import Store

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _at(r: int) -> datetime:
    return T0 + timedelta(hours=6 * r)


def _outage(round_no: int) -> Event:
    return Event(
        event_id="o1",
        kind="outage",
        probe_cc="PK",
        probe_asn="AS64500",
        domain=None,
        start=_at(round_no),
        end=_at(round_no),
        methods=(),
        availability=0.0,
        confidence=1.0,
        measurements=(),
    )


def test_an_outage_round_delivered_late_is_alerted_on_the_next_refresh(store: Store) -> None:
    alerts = Alerts(store, "http://observatory.test")
    # Rounds 3 (the network's outage: its probe could not upload) and 4 arrive together;
    # the data before them (round 2) does not show the outage, so it waits for newer data.
    assert alerts.on_events([_outage(3)], since=_at(3), latest=_at(4), previous=_at(2)) == []
    # Round 5 confirms it; the outage was over before round 5's data, yet it is news.
    said = alerts.on_events([_outage(3)], since=_at(5), latest=_at(5), previous=_at(4))
    assert [(c.change, c.event.kind) for c in said] == [("started", "outage"), ("ended", "outage")]
    # Said once: a later refresh finds nothing new.
    assert alerts.on_events([_outage(3)], since=_at(6), latest=_at(6), previous=_at(5)) == []
