"""The schema is written once: the DDL follows the records, and docs/schema.md follows the DDL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from blockwatch.analysis.records import Event, NetworkSpan, Verdict
from blockwatch.store import Store, schema

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def _documented_tables() -> dict[str, list[tuple[str, str]]]:
    tables: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in SCHEMA_DOC.read_text().splitlines():
        if m := re.match(r"^## (\w+)", line):
            current = m.group(1)
            tables[current] = []
        elif current and line.startswith("| ") and not line.startswith("| column"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            tables[current].append((cells[0], cells[1]))
    return tables


def test_schema_doc_lists_every_table_and_column_with_its_type() -> None:
    assert _documented_tables() == schema.table_columns()


def test_created_tables_have_the_documented_columns_and_types(store: Store) -> None:
    con = store.cursor()
    for table, columns in schema.table_columns().items():
        found = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
            "ORDER BY column_index",
            [table],
        ).fetchall()
        assert found == [(n, d.replace(" PRIMARY KEY", "")) for n, d in columns], table


def test_verdict_columns_follow_the_dataclass_field_order() -> None:
    names = [n for n, _ in schema.record_columns(Verdict)]
    assert names == list(Verdict.__dataclass_fields__)
    assert dict(schema.record_columns(Verdict))["evidence"] == "VARCHAR[]"
    assert dict(schema.record_columns(Verdict))["confidence"] == "DOUBLE"


def test_an_event_with_networks_survives_the_round_trip_through_duckdb(store: Store) -> None:
    t0 = datetime(2024, 2, 17, 12, tzinfo=UTC)
    event = Event(
        event_id="e-1",
        kind="censorship",
        probe_cc="PK",
        probe_asn=None,
        domain="x.com",
        start=t0,
        end=None,
        methods=("tls.reset", "dns.nxdomain"),
        availability=0.15,
        confidence=0.9,
        measurements=("m1", "m2"),
        networks=(NetworkSpan("AS17557", t0, None, 0.1), NetworkSpan("AS9541", t0, t0, 0.2)),
        parent_event_id=None,
    )
    store.replace_events([event])
    assert store.events() == [event]


def test_reopening_an_existing_store_keeps_its_rows(db: Path) -> None:
    v = Verdict(
        "m1",
        datetime(2024, 1, 1, tzinfo=UTC),
        "PK",
        "AS1",
        "https://x.com/",
        "x.com",
        "web_connectivity",
        "blocked",
        "dns.nxdomain",
        0.8,
        True,
        ("why",),
    )
    with Store(db) as s:
        s.add_verdicts([v])
    with Store(db) as s:
        assert s.verdicts() == [v]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(schema.SCHEMA_VERSION),
    )
    con.close()


def test_the_fast_verdict_row_equals_the_generic_one() -> None:
    v = Verdict(
        "m1",
        datetime(2024, 1, 1, 5, tzinfo=UTC),
        "PK",
        "AS1",
        "https://x.com/",
        "x.com",
        "web_connectivity",
        "blocked",
        "dns.nxdomain",
        0.8,
        True,
        ("a", "b"),
        "fp",
        "dns",
        True,
    )
    fast, generic = schema.verdict_row(v), schema.record_to_row(v)
    at = schema.VERDICT_FIELDS.index("measured_at")
    # The fast row leaves the time aware (the Arrow insert stores it as UTC): the same instant.
    assert fast[at] == v.measured_at and generic[at] == datetime(2024, 1, 1, 5)
    assert fast[:at] + fast[at + 1 :] == generic[:at] + generic[at + 1 :]
    assert schema.row_to_verdict(generic) == v
