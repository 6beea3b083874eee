"""Telling a duplicate from a conflict: a measurement_id already stored, held by the same
document (a rerun, the same file twice) or by a different one (a forged or broken
``measurement_uid``). Only the batch path that met stored ids pays for the comparison."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson
import pyarrow as pa

from blockwatch.store import rawcodec, rawtexts

_ID_CHUNK: Final = 256


def same_document(old: bytes, new: bytes) -> bool:
    """Whether two JSON texts hold the same measurement: byte-equal, or equal once decoded
    (the same measurement from a JSONL line and from a list differs in spacing) but for its
    ``report_id``, which the collector assigns on upload: a measurement resubmitted into a
    reopened report (bk-003) is the same measurement, not a conflict."""
    if old == new:
        return True
    try:
        first, second = orjson.loads(old), orjson.loads(new)
    except orjson.JSONDecodeError:
        return False
    if isinstance(first, dict) and isinstance(second, dict):
        first.pop("report_id", None)
        second.pop("report_id", None)
    return bool(first == second)


def stored_conflicts(
    fetch: rawtexts.Fetch,
    raw_columns: str,
    measurements: pa.Table,
    blocks: pa.Array | None,
    first_block: int,
) -> list[tuple[str, str]]:
    """(measurement_id, source) of each row of ``measurements`` whose id is stored already
    with a different document. The rows' texts are in ``blocks`` (numbered from
    ``first_block``)."""
    ids = measurements.column("measurement_id").to_pylist()
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        marks = ", ".join("?" * len(chunk))
        found += fetch(
            f"SELECT measurement_id, {raw_columns} FROM measurements"
            f" WHERE measurement_id IN ({marks})",
            chunk,
        )
    if not found or blocks is None:
        return []
    old_texts = rawtexts.texts(fetch, found)
    new_texts = _new_texts(measurements, blocks, first_block, old_texts)
    return [
        (mid, source)
        for mid, (text, source) in new_texts.items()
        if not same_document(old_texts[mid], text)
    ]


def _new_texts(
    measurements: pa.Table, blocks: pa.Array, first_block: int, wanted: Iterable[str]
) -> dict[str, tuple[bytes, str]]:
    wanted = set(wanted)
    columns = ("measurement_id", "source", "raw_block", "raw_offset", "raw_length")
    rows = zip(*(measurements.column(c).to_pylist() for c in columns), strict=True)
    whole: dict[int, bytes] = {}
    out: dict[str, tuple[bytes, str]] = {}
    for mid, source, block, offset, length in rows:
        if mid not in wanted or block is None:
            continue
        if block not in whole:
            whole[block] = rawcodec.decompress_block(blocks[block - first_block].as_py())
        text = rawcodec.text_of(None, whole[block], offset, length)
        if text is not None:
            out[mid] = (text, source)
    return out
