"""Reading the store: filters, bound parameters, read-only mode, event replacement."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from blockwatch.analysis.records import Event
from blockwatch.errors import StoreError
from blockwatch.store import Store
from blockwatch.store.filters import Filter
from storehelpers import T0, verdict


@pytest.fixture
def filled(store: Store) -> Store:
    rows = [verdict(i) for i in range(10)]
    rows += [verdict(100 + i, asn="AS9541", domain="twitter.com", outcome="ok") for i in range(5)]
    rows += [verdict(200 + i, cc="BR", asn="AS28573") for i in range(3)]
    store.add_verdicts(rows)
    return store


def test_each_filter_narrows_the_verdicts(filled: Store) -> None:
    assert len(filled.verdicts()) == 18
    assert len(filled.verdicts(Filter(country="PK"))) == 15
    assert len(filled.verdicts(Filter(country="pk", asn="9541"))) == 5
    assert len(filled.verdicts(Filter(domain="X.com"))) == 13
    assert len(filled.verdicts(Filter(outcome="ok"))) == 5
    assert len(filled.verdicts(Filter(limit=4))) == 4


def test_since_is_inclusive_and_until_exclusive(filled: Store) -> None:
    got = filled.verdicts(
        Filter(
            country="PK",
            asn="AS17557",
            since=T0 + timedelta(hours=2),
            until=T0 + timedelta(hours=5),
        )
    )
    assert [v.measurement_id for v in got] == ["m0002", "m0003", "m0004"]


def test_verdicts_come_back_oldest_first_as_equal_records(filled: Store) -> None:
    got = filled.verdicts(Filter(country="BR"))
    assert got == [verdict(200 + i, cc="BR", asn="AS28573") for i in range(3)]


@pytest.mark.parametrize(
    "value",
    ["x.com' OR '1'='1", "'; DROP TABLE verdicts; --", 'x.com" --', "%", "_", "\\", "\x00"],
)
def test_sql_metacharacters_in_filters_match_nothing_and_break_nothing(
    filled: Store, value: str
) -> None:
    assert filled.verdicts(Filter(domain=value)) == []
    assert filled.verdicts(Filter(country=value, asn=value, outcome=value)) == []
    assert filled.events(Filter(domain=value, kind=value)) == []
    assert len(filled.verdicts()) == 18


def test_add_verdicts_twice_keeps_one_row_per_measurement(filled: Store) -> None:
    filled.add_verdicts([verdict(1, outcome="ok")])
    assert filled.count("verdicts") == 18
    assert filled.count("measurements") == 18
    assert filled.verdicts(Filter(outcome="ok", country="PK", asn="AS17557"))[0] == verdict(
        1, outcome="ok"
    )


def test_synthetic_measurements_have_no_raw_document(filled: Store) -> None:
    assert filled.raw_measurement("m0001") is None
    assert filled.raw_measurement("no-such-id") is None


def event(eid: str, cc: str, kind: str = "censorship", end: datetime | None = None) -> Event:
    return Event(eid, kind, cc, "AS1", "x.com", T0, end, ("dns.nxdomain",), 0.0, 0.8, ("m1",))  # type: ignore[arg-type]


def test_replace_events_in_a_scope_leaves_other_events_alone(store: Store) -> None:
    store.replace_events([event("pk1", "PK"), event("br1", "BR")])
    store.replace_events(
        [event("pk2", "PK", end=T0 + timedelta(days=1))], scope=Filter(country="PK")
    )
    assert [e.event_id for e in store.events()] == ["br1", "pk2"]
    store.replace_events([])
    assert store.events() == []


def test_event_filter_since_keeps_ongoing_and_later_ending_events(store: Store) -> None:
    store.replace_events(
        [
            event("old", "PK", end=T0 + timedelta(days=1)),
            event("open", "PK"),
            event("out", "PK", kind="outage", end=T0 + timedelta(days=9)),
        ]
    )
    got = store.events(Filter(since=T0 + timedelta(days=2)))
    assert sorted(e.event_id for e in got) == ["open", "out"]
    assert [e.event_id for e in store.events(Filter(kind="outage"))] == ["out"]


def test_read_only_store_reads_and_refuses_writes(filled: Store, db: Path) -> None:
    filled.close()
    with Store(db, read_only=True) as ro:
        assert len(ro.verdicts()) == 18
        with pytest.raises(StoreError, match="read-only"):
            ro.add_verdicts([verdict(999)])


def test_opening_a_missing_store_read_only_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        Store(tmp_path / "absent.duckdb", read_only=True)
    assert not (tmp_path / "absent.duckdb").exists()


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError):
        Store(junk)
