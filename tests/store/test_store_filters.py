"""The one filter: what each word means, typed as a person types it, and its SQL on a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blockwatch.analysis.records import Event
from blockwatch.errors import FilterError
from blockwatch.store import Filter, Store

MIDNIGHT = datetime(2024, 2, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "since", "until"),
    [
        ({}, None, None),
        ({"since": "2024-02-20"}, MIDNIGHT, None),
        ({"until": "2024-02-20"}, None, MIDNIGHT),  # exclusive: before the 20th
        ({"to": "2024-02-19"}, None, MIDNIGHT),  # the older spelling: through the 19th
        ({"until": "2024-02-20T06:30:00Z"}, None, MIDNIGHT + timedelta(hours=6, minutes=30)),
        ({"to": "2024-02-20T06:30:00Z"}, None, MIDNIGHT + timedelta(hours=6, minutes=30)),
        ({"since": "2024-02-20T05:00:00+05:00"}, MIDNIGHT, None),  # an offset is honoured
        ({"since": "2024-02-20T00:00:00"}, MIDNIGHT, None),  # no offset: UTC
        ({"until": "2024-02-21", "to": "2024-01-01"}, None, MIDNIGHT + timedelta(days=1)),
        ({"since": "  ", "until": ""}, None, None),  # blank is "any"
    ],
)
def test_time_bounds_as_typed(typed: dict[str, str], since: object, until: object) -> None:
    f = Filter.parse(**typed)
    assert (f.since, f.until) == (since, until)


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-02-30"}, "until"),
        ({"to": "20/02/2024"}, "to"),
        ({"since": "2024-02-21", "until": "2024-02-20"}, "until"),
        ({"since": "2024-02-20", "until": "2024-02-20"}, "until"),
    ],
)
def test_a_bad_bound_is_an_error_naming_it(typed: dict[str, str], name: str) -> None:
    with pytest.raises(FilterError) as err:
        Filter.parse(**typed)
    assert err.value.name == name


def _event(eid: str, start: datetime, end: datetime | None) -> Event:
    return Event(eid, "censorship", "PK", "AS1", "x.com", start, end, (), 0.0, 0.5, ())


def test_events_are_kept_when_they_overlap_the_range(store: Store) -> None:
    day = timedelta(days=1)
    store.replace_events(
        [
            _event("before", MIDNIGHT - 5 * day, MIDNIGHT - 3 * day),
            _event("across", MIDNIGHT - 2 * day, MIDNIGHT + day),
            _event("inside", MIDNIGHT + day, MIDNIGHT + 2 * day),
            _event("after", MIDNIGHT + 6 * day, None),
            _event("ongoing", MIDNIGHT - 9 * day, None),
        ]
    )
    got = store.events(Filter(since=MIDNIGHT, until=MIDNIGHT + 3 * day))
    assert sorted(e.event_id for e in got) == ["across", "inside", "ongoing"]


def test_country_network_and_domain_are_matched_however_they_are_written(store: Store) -> None:
    store.replace_events([_event("e", MIDNIGHT, None)])
    for typed in ({"country": "pk"}, {"asn": "1"}, {"asn": "as1"}, {"domain": "X.COM"}):
        assert [e.event_id for e in store.events(Filter.parse(**typed))] == ["e"]
