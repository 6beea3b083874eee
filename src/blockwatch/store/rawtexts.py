"""Reading raw measurement texts back out of a store: the one read path for the store itself
and the dashboard (see rawcodec for the format)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from blockwatch.errors import StoreError
from blockwatch.store import rawcodec

# The measurement columns a text is read from, in the order text rows hold them.
RAW_COLUMNS: Final = "raw, raw_block, raw_offset, raw_length"
# The same on a schema-1 store that has not been opened for writing since (read-only: the
# dashboard, `blockwatch verdicts`): every text is in its own row.
RAW_COLUMNS_SCHEMA_1: Final = "raw, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT"
_BLOCK_CHUNK: Final = 64  # blocks fetched per query (~16 MiB of text decompressed at most)

# (key, raw, raw_block, raw_offset, raw_length)
TextRow = Sequence[Any]
# Runs one SELECT with parameters and returns its rows as tuples.
Fetch = Callable[[str, list[Any]], list[tuple[Any, ...]]]


def raw_columns(fetch: Fetch) -> str:
    """What to select for ``texts`` on this store: RAW_COLUMNS, or its schema-1 form."""
    found = fetch(
        "SELECT count(*) FROM duckdb_columns()"
        " WHERE table_name = 'measurements' AND column_name = 'raw_block'",
        [],
    )
    return RAW_COLUMNS if found and found[0][0] else RAW_COLUMNS_SCHEMA_1


def texts(fetch: Fetch, rows: Iterable[TextRow]) -> dict[Any, bytes]:
    """key -> JSON text for the rows that have one. Each block is fetched and decompressed
    once, however many of its measurements are asked for."""
    out: dict[Any, bytes] = {}
    by_block: dict[int, list[TextRow]] = {}
    for row in rows:
        key, raw, block = row[0], row[1], row[2]
        if raw is not None:
            out[key] = rawcodec.decompress_raw(raw)
        elif block is not None:
            by_block.setdefault(block, []).append(row)
    ids = sorted(by_block)
    for start in range(0, len(ids), _BLOCK_CHUNK):
        chunk = ids[start : start + _BLOCK_CHUNK]
        # Block ids ascend in insert order, so DuckDB's min/max per row group prunes the scan.
        marks = ", ".join("?" * len(chunk))
        found = fetch(f"SELECT block_id, data FROM raw_blocks WHERE block_id IN ({marks})", chunk)
        missing = set(chunk) - {block_id for block_id, _ in found}
        if missing:
            raise StoreError(f"raw blocks {sorted(missing)[:5]} are missing from the store")
        for block_id, data in found:
            whole = rawcodec.decompress_block(data)
            for key, _, _, offset, length in by_block[block_id]:
                text = rawcodec.text_of(None, whole, offset, length)
                if text is not None:
                    out[key] = text
    return out
