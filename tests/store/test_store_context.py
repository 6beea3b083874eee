"""Network names and annotations in the store (schema 4), and older stores without them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from blockwatch.analysis.records import Annotation
from blockwatch.pipeline import ingest_documents
from blockwatch.store import Reads, Store, schema


def doc(asn: str, name: Any, n: int) -> dict[str, Any]:
    return {
        "measurement_uid": f"m-{asn}-{n}",
        "report_id": f"r-{asn}",
        "test_name": "web_connectivity",
        "measurement_start_time": f"2024-02-17 12:00:{n:02d}",
        "input": "https://x.com/",
        "probe_cc": "PK",
        "probe_asn": asn,
        "probe_network_name": name,
        "test_keys": {},
    }


def note(day: int, title: str, cc: str | None = "PK", domains: tuple[str, ...] = ()) -> Annotation:
    return Annotation(f"a{day}", datetime(2024, 2, day, tzinfo=UTC), None, cc, domains, title)


def test_ingest_keeps_the_network_name_each_measurement_carries(store: Store) -> None:
    docs = [
        doc("AS17557", "  Pakistan Telecommunication\n Company Limited ", 1),
        doc("AS9541", "Cybernet", 2),
        doc("AS135407", 7, 3),  # not text: no name
        doc("AS0", "unknown", 4),  # no network: no name
        doc("AS45595", "", 5),
    ]
    ingest_documents(store, docs)
    assert store.network_names() == {
        "AS17557": "Pakistan Telecommunication Company Limited",
        "AS9541": "Cybernet",
    }


def test_a_later_name_replaces_an_earlier_one_and_names_can_be_set_by_hand(store: Store) -> None:
    ingest_documents(store, [doc("AS17557", "PTCL old", 1)])
    ingest_documents(store, [doc("AS17557", "PTCL", 2)])
    assert store.network_names() == {"AS17557": "PTCL"}
    store.set_network_names({"AS9541": "Cybernet"})
    assert store.network_names() == {"AS17557": "PTCL", "AS9541": "Cybernet"}


def test_a_name_said_again_by_the_same_source_is_left_as_it_is(store: Store) -> None:
    def rows() -> list[tuple[Any, ...]]:
        cur = store.cursor()
        try:
            sql = "SELECT probe_asn, name, source, updated_at FROM network_names ORDER BY 1"
            return cur.execute(sql).fetchall()
        finally:
            cur.close()

    ingest_documents(store, [doc("AS17557", "PTCL", 1), doc("AS9541", "Cybernet", 1)])
    first = rows()
    ingest_documents(store, [doc("AS17557", "PTCL", 2), doc("AS9541", "Cybernet", 2)])
    assert rows() == first  # not written again (a live collector names them every batch)
    store.set_network_names({"AS9541": "Cybernet"})  # the same name, by hand: now manual
    ingest_documents(store, [doc("AS17557", "PTCL Ltd", 3)])
    after = {r[0]: r[1:3] for r in rows()}
    assert after == {"AS17557": ("PTCL Ltd", "measurements"), "AS9541": ("Cybernet", "manual")}


def test_annotations_are_selected_by_country_and_domain_and_replaced_by_id(store: Store) -> None:
    store.add_annotations(
        [
            note(8, "General elections"),
            note(17, "X blocked", domains=("twitter.com", "x.com")),
            note(1, "Wikipedia blocked", domains=("wikipedia.org",)),
            note(3, "Elsewhere", cc="TR"),
            note(5, "Everywhere", cc=None),
        ]
    )
    titles = [a.title for a in store.annotations("pk", ["x.com"])]
    assert titles == ["Everywhere", "General elections", "X blocked"]
    assert len(store.annotations()) == 5
    store.add_annotations([note(17, "X blocked (corrected)", domains=("x.com",))])
    assert [a.title for a in store.annotations("PK", ["x.com"])][-1] == "X blocked (corrected)"
    assert len(store.annotations()) == 5


def _make_schema_3(path: Path) -> None:
    """A store as schema 3 wrote it: no network_names, no annotations."""
    with Store(path) as s:
        s.add_annotations([note(8, "General elections")])
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE network_names")
    con.execute("DROP TABLE annotations")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()


def test_a_schema_3_store_opens_read_only_with_no_names_and_no_annotations(db: Path) -> None:
    _make_schema_3(db)
    with Store(db, read_only=True) as s:
        assert s.network_names() == {} and s.annotations("PK") == []
        r = Reads(s)
        assert r.network_names() == {} and r.annotations("PK", ["x.com"]) == []
        assert r.censorship_events("PK") == []


def test_a_writable_open_upgrades_a_schema_3_store_to_schema_4(db: Path) -> None:
    _make_schema_3(db)
    with Store(db) as s:
        s.set_network_names({"AS17557": "PTCL"})
        assert s.network_names() == {"AS17557": "PTCL"}
    con = duckdb.connect(str(db), read_only=True)
    version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    con.close()
    assert version == (str(schema.SCHEMA_VERSION),) and schema.SCHEMA_VERSION >= 4
