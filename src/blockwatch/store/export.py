"""JSONL and CSV writers for verdicts and events; columns come from records.*_JSONL_FIELDS.

Times are ISO-8601 UTC with a Z. In CSV a list becomes one cell joined by ';' and None an
empty cell, booleans true/false; JSONL keeps lists and nulls as JSON.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

import orjson

from blockwatch.analysis.records import EVENT_JSONL_FIELDS, VERDICT_JSONL_FIELDS, Event, Verdict
from blockwatch.times import iso_z

FORMATS = ("table", "jsonl", "csv")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def record_dict(record: Verdict | Event, fields: Sequence[str]) -> dict[str, Any]:
    """The exported fields of one record, as JSON-ready values."""
    return {name: _plain(getattr(record, name)) for name in fields}


def verdict_dict(v: Verdict) -> dict[str, Any]:
    return record_dict(v, VERDICT_JSONL_FIELDS)


def event_dict(e: Event) -> dict[str, Any]:
    return record_dict(e, EVENT_JSONL_FIELDS)


def write_jsonl(records: Iterable[Verdict | Event], fields: Sequence[str], out: IO[str]) -> int:
    """One JSON object per line; returns the number written."""
    n = 0
    for record in records:
        out.write(orjson.dumps(record_dict(record, fields)).decode())
        out.write("\n")
        n += 1
    return n


def _cell(value: Any) -> Any:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as in the JSONL, not Python's True
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return value


def write_csv(records: Iterable[Verdict | Event], fields: Sequence[str], out: IO[str]) -> int:
    """A header row, then one row per record; returns the number of records written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    n = 0
    for record in records:
        writer.writerow([_cell(getattr(record, name)) for name in fields])
        n += 1
    return n


def write_verdicts(verdicts: Iterable[Verdict], fmt: str, out: IO[str]) -> int:
    """Verdicts as 'jsonl' or 'csv' (DESIGN §6.2 fields)."""
    if fmt == "jsonl":
        return write_jsonl(verdicts, VERDICT_JSONL_FIELDS, out)
    return write_csv(verdicts, VERDICT_JSONL_FIELDS, out)


def write_events(events: Iterable[Event], fmt: str, out: IO[str]) -> int:
    """Events as 'jsonl' or 'csv' (DESIGN §6.2 fields)."""
    if fmt == "jsonl":
        return write_jsonl(events, EVENT_JSONL_FIELDS, out)
    return write_csv(events, EVENT_JSONL_FIELDS, out)
