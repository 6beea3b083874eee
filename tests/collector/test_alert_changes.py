"""The alert diff (pure): changes per series against what was last alerted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from blockwatch.alerts.changes import diff, snapshot
from blockwatch.analysis.records import Event, NetworkSpan

T0 = datetime(2024, 2, 10, tzinfo=UTC)


def _event(start: int, end: int | None, spans: dict[str, int | None]) -> Event:
    at = lambda r: T0 + timedelta(hours=6 * r)  # noqa: E731
    return Event(
        event_id=f"e{start}",
        kind="censorship",
        probe_cc="PK",
        probe_asn=None,
        domain="x.com",
        start=at(start),
        end=None if end is None else at(end),
        methods=("tls.reset",),
        availability=0.0,
        confidence=0.9,
        measurements=(),
        networks=tuple(
            NetworkSpan(a, at(start), None if e is None else at(e), 0.0) for a, e in spans.items()
        ),
    )


def test_a_network_leaving_an_ongoing_event_is_said_though_an_older_episode_is_listed() -> None:
    old = _event(1, 3, {"AS1": 3, "AS2": 3})
    current = _event(30, None, {"AS1": None, "AS2": None})
    snaps = {"censorship|PK|*|x.com": snapshot(current)}
    later = _event(30, None, {"AS1": None, "AS2": 155})
    changes, _ = diff([old, later], snaps, since=None)
    assert [(c.change, c.detail) for c in changes] == [("changed", "ended on AS2")]


def test_a_new_episode_after_an_ended_one_starts_again() -> None:
    old = _event(1, 3, {"AS1": 3})
    snaps = {"censorship|PK|*|x.com": snapshot(old)}
    changes, _ = diff([old, _event(30, None, {"AS1": None})], snaps, since=None)
    assert [c.change for c in changes] == ["started"]
