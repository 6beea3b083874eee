"""The store's tables: DDL generated from the record dataclasses, plus measurements and bookkeeping.

Verdict and Event (analysis/records.py) are the schema of their tables; this module turns their
type hints into DuckDB column types, and converts records to rows and back, so the table layout
is written once. ``docs/schema.md`` documents the result and a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from datetime import datetime
from typing import Any, Final, Literal

import orjson

from blockwatch.analysis.records import Annotation, Event, NetworkSpan, Verdict
from blockwatch.times import aware_utc, iso_z, naive_utc, parse_iso

# 2: raw texts in raw_blocks (rawcodec); measurements.raw kept for the rows of schema 1.
# 3: verdicts.rule_id, the rule that decided (analysis/rules.py); NULL on older rows.
# 4: network_names (ISP names beside AS numbers) and annotations (dated public facts).
# 5: verdict_days and verdict_totals, verdict counts kept exact beside the verdicts (counts.py).
SCHEMA_VERSION: Final = 5

MEASUREMENT_COLUMNS: Final = (
    ("measurement_id", "VARCHAR PRIMARY KEY"),
    ("report_id", "VARCHAR"),
    ("test_name", "VARCHAR"),
    ("input", "VARCHAR"),
    ("domain", "VARCHAR"),
    ("probe_cc", "VARCHAR"),
    ("probe_asn", "VARCHAR"),
    ("measured_at", "TIMESTAMP"),
    ("source", "VARCHAR"),
    ("raw", "BLOB"),
    ("raw_block", "BIGINT"),
    ("raw_offset", "BIGINT"),
    ("raw_length", "BIGINT"),
)

# Added by schema 2: a store of schema 1 gets them on its first writable open.
MEASUREMENT_COLUMNS_V2: Final = MEASUREMENT_COLUMNS[-3:]

# The raw measurement texts, compressed a block of measurements at a time (rawcodec).
RAW_BLOCK_COLUMNS: Final = (("block_id", "BIGINT PRIMARY KEY"), ("data", "BLOB"))

# One row per input file: resumable ingest skips unchanged complete files and, inside a
# partly ingested file, the lines already committed.
INGEST_FILE_COLUMNS: Final = (
    ("path", "VARCHAR PRIMARY KEY"),
    ("size", "BIGINT"),
    ("mtime_ns", "BIGINT"),
    ("lines_done", "BIGINT"),
    ("complete", "BOOLEAN"),
    ("updated_at", "TIMESTAMP"),
)

# Small durable state of the running observatory (collector reports, alert subscriptions and
# what was alerted, dead letters): a namespace, a key and a JSON value (store/state.py).
STATE_COLUMNS: Final = (
    ("namespace", "VARCHAR"),
    ("key", "VARCHAR"),
    ("value", "VARCHAR"),
    ("updated_at", "TIMESTAMP"),
)

# Storage options that are not part of a column's type: raw texts are compressed already
# (rawcodec), and letting DuckDB try to compress them again tripled the CPU cost of an insert.
COLUMN_STORAGE: Final = {
    ("measurements", "raw"): "USING COMPRESSION uncompressed",
    ("raw_blocks", "data"): "USING COMPRESSION uncompressed",
}

# The name people use for a network, one per AS (the latest seen wins): from OONI's
# probe_network_name at ingest (the lab's probes set it from the scenario), or set by hand.
NETWORK_NAME_COLUMNS: Final = (
    ("probe_asn", "VARCHAR PRIMARY KEY"),
    ("name", "VARCHAR"),
    ("source", "VARCHAR"),
    ("updated_at", "TIMESTAMP"),
)

# Tables made by the first writable open of schema 4; a read-only open of an older store
# reads them as empty.
TABLES_ADDED_V4: Final = ("network_names", "annotations")

# Verdict counts per group (store/counts.py keeps them exact): per UTC day, and over all time.
# Made by the first writable open of schema 5 and counted from the verdicts then; a read-only
# open of an older store reads the verdicts instead.
COUNT_GROUP: Final = ("probe_cc", "probe_asn", "domain", "outcome", "method")
_COUNTED: Final = (("n", "BIGINT"), ("first", "TIMESTAMP"), ("last", "TIMESTAMP"))
VERDICT_TOTAL_COLUMNS: Final = (*((c, "VARCHAR") for c in COUNT_GROUP), *_COUNTED)
VERDICT_DAY_COLUMNS: Final = (("day", "DATE"), *VERDICT_TOTAL_COLUMNS)
TABLES_ADDED_V5: Final = ("verdict_days", "verdict_totals")

META_COLUMNS: Final = (("key", "VARCHAR PRIMARY KEY"), ("value", "VARCHAR"))

PRIMARY_KEYS: Final = {
    "verdicts": "measurement_id",
    "events": "event_id",
    "annotations": "annotation_id",
}


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None was allowed)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def sql_type(hint: Any) -> str:
    """The DuckDB type of one dataclass field's type hint."""
    inner, _ = _strip_optional(hint)
    origin = typing.get_origin(inner)
    if inner is str or origin is Literal:
        return "VARCHAR"
    if inner is bool:
        return "BOOLEAN"
    if inner is int:
        return "BIGINT"
    if inner is float:
        return "DOUBLE"
    if inner is datetime:
        return "TIMESTAMP"
    if origin is tuple:
        item = typing.get_args(inner)[0]
        # Nested records (an event's networks) are stored as JSON text: they are read back
        # whole and never filtered on.
        return "VARCHAR[]" if item is str else "VARCHAR"
    raise TypeError(f"no column type for {hint!r}")


def record_columns(cls: type) -> list[tuple[str, str]]:
    """(name, DuckDB type) for each field of a record dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    cols = []
    for f in dataclasses.fields(cls):
        decl = sql_type(hints[f.name])
        if PRIMARY_KEYS.get(_table_of(cls)) == f.name:
            decl += " PRIMARY KEY"
        cols.append((f.name, decl))
    return cols


def _table_of(cls: type) -> str:
    return {Verdict: "verdicts", Event: "events", Annotation: "annotations"}[cls]


def _create(table: str, columns: typing.Iterable[tuple[str, str]], key: str = "") -> str:
    parts = [
        f'"{name}" {decl} {COLUMN_STORAGE.get((table, name), "")}'.rstrip()
        for name, decl in columns
    ]
    if key:
        parts.append(f"PRIMARY KEY ({key})")
    body = ",\n  ".join(parts)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {body}\n)"


def ddl() -> list[str]:
    """Every statement that creates the store's tables (idempotent)."""
    return [
        _create("meta", META_COLUMNS),
        _create("measurements", MEASUREMENT_COLUMNS),
        _create("raw_blocks", RAW_BLOCK_COLUMNS),
        _create("verdicts", record_columns(Verdict)),
        _create("events", record_columns(Event)),
        _create("ingest_files", INGEST_FILE_COLUMNS),
        _create("state", STATE_COLUMNS, key="namespace, key"),
        _create("network_names", NETWORK_NAME_COLUMNS),
        _create("annotations", record_columns(Annotation)),
        _create("verdict_days", VERDICT_DAY_COLUMNS),
        _create("verdict_totals", VERDICT_TOTAL_COLUMNS),
    ]


def upgrade(present: set[str]) -> list[str]:
    """Statements bringing a store's measurements table (with these columns) to this schema."""
    return [
        f'ALTER TABLE measurements ADD COLUMN "{name}" {decl}'
        for name, decl in MEASUREMENT_COLUMNS_V2
        if name not in present
    ]


# Verdict columns added after schema 2 (a field appended to the Verdict record): a writable
# open adds them, a read-only open of an older store reads them as NULL.
VERDICT_COLUMNS_ADDED: Final = ("rule_id",)


def verdict_upgrade(present: set[str]) -> list[str]:
    """Statements adding the verdict columns a store of an older schema lacks."""
    decl = dict(record_columns(Verdict))
    return [
        f'ALTER TABLE verdicts ADD COLUMN "{name}" {decl[name]}'
        for name in VERDICT_COLUMNS_ADDED
        if name not in present
    ]


def verdict_select(present: set[str]) -> str:
    """The verdict columns to SELECT from a store whose verdicts table has ``present``: a
    column an older store lacks reads as NULL (a read-only open cannot add it)."""
    decl = dict(record_columns(Verdict))
    return ", ".join(
        f'"{n}"' if n in present or n not in VERDICT_COLUMNS_ADDED else f'NULL::{decl[n]} AS "{n}"'
        for n in VERDICT_FIELDS
    )


def table_columns() -> dict[str, list[tuple[str, str]]]:
    """Table name -> (column, declaration) list, as ddl() creates them (used by the doc test)."""
    return {
        "measurements": list(MEASUREMENT_COLUMNS),
        "raw_blocks": list(RAW_BLOCK_COLUMNS),
        "verdicts": record_columns(Verdict),
        "events": record_columns(Event),
        "ingest_files": list(INGEST_FILE_COLUMNS),
        "state": list(STATE_COLUMNS),
        "network_names": list(NETWORK_NAME_COLUMNS),
        "annotations": record_columns(Annotation),
        "verdict_days": list(VERDICT_DAY_COLUMNS),
        "verdict_totals": list(VERDICT_TOTAL_COLUMNS),
        "meta": list(META_COLUMNS),
    }


# --- record <-> row ---------------------------------------------------------------------------


def _networks_json(spans: tuple[NetworkSpan, ...]) -> str:
    return orjson.dumps(
        [
            {
                "probe_asn": s.probe_asn,
                "start": iso_z(s.start),
                "end": iso_z(s.end),
                "availability": s.availability,
            }
            for s in spans
        ]
    ).decode()


def _networks_from_json(text: str | None) -> tuple[NetworkSpan, ...]:
    if not text:
        return ()
    return tuple(
        NetworkSpan(
            probe_asn=n["probe_asn"],
            start=parse_iso(n["start"]),
            end=parse_iso(n["end"]) if n["end"] else None,
            availability=float(n["availability"]),
        )
        for n in orjson.loads(text)
    )


VERDICT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Verdict))
EVENT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Event))
_VERDICT_VALUES: Final = operator.attrgetter(*VERDICT_FIELDS)
_EVIDENCE: Final = VERDICT_FIELDS.index("evidence")


def verdict_row(v: Verdict) -> tuple[Any, ...]:
    """record_to_row for a Verdict, without the generic loop (ingest makes one per record).
    Its time stays aware: the Arrow insert path (Store.write_batch) stores aware times as UTC
    itself, and datetime.replace costs ~1.4 us a call."""
    row = list(_VERDICT_VALUES(v))
    row[_EVIDENCE] = list(row[_EVIDENCE])
    return tuple(row)


def record_to_row(record: Verdict | Event | Annotation) -> tuple[Any, ...]:
    """One record as the tuple of its table's columns."""
    row: list[Any] = []
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, datetime):
            value = naive_utc(value)
        elif f.name == "networks":
            value = _networks_json(value)
        elif isinstance(value, tuple):
            value = list(value)
        row.append(value)
    return tuple(row)


_EVENT_TIMES: Final = frozenset({"start", "end"})


def row_to_verdict(row: tuple[Any, ...]) -> Verdict:
    values = dict(zip(VERDICT_FIELDS, row, strict=True))
    values["measured_at"] = aware_utc(values["measured_at"])
    values["evidence"] = tuple(values["evidence"] or ())
    return Verdict(**values)


def row_to_event(row: tuple[Any, ...]) -> Event:
    values = dict(zip(EVENT_FIELDS, row, strict=True))
    for name in _EVENT_TIMES:
        if values[name] is not None:
            values[name] = aware_utc(values[name])
    values["methods"] = tuple(values["methods"] or ())
    values["measurements"] = tuple(values["measurements"] or ())
    values["networks"] = _networks_from_json(values["networks"])
    return Event(**values)


ANNOTATION_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Annotation))


def row_to_annotation(row: tuple[Any, ...]) -> Annotation:
    values = dict(zip(ANNOTATION_FIELDS, row, strict=True))
    for name in _EVENT_TIMES:
        if values[name] is not None:
            values[name] = aware_utc(values[name])
    values["domains"] = tuple(values["domains"] or ())
    values["text"] = values["text"] or ""
    values["source"] = values["source"] or ""
    return Annotation(**values)


def column_list(names: typing.Iterable[str]) -> str:
    """Quoted column names ("end" and "input" are SQL keywords)."""
    return ", ".join(f'"{n}"' for n in names)
