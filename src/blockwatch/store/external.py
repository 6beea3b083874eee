"""Measurements kept outside the store: Parquet folders (``ingest --external DIR``) read
through views, so every read of ``measurements``, ``verdicts`` and ``raw_blocks`` sees the
store's own rows and the external ones alike.

A folder holds ``measurements/day=YYYY-MM-DD/cc=XX/*.parquet`` and ``verdicts/`` laid out the
same way, and ``raw_blocks/*.parquet`` (a block holds texts of many days and countries). Each
file's rows carry ``bw_part``, the chunk they came in. The store keeps the index that the
dedup rule needs and nothing else: which chunks are registered (``external_parts``; a chunk a
crashed run wrote but never registered stays invisible), every external measurement id
(``external_ids``: an id is kept once, by the first chunk registered with it, as the primary
key keeps it for stored rows), and the (chunk, id) rows left out as duplicates
(``external_skipped``). External block ids are negative, so they never meet the store's own.

The views live in schema ``bw_ext`` of the store file; every connection the Store opens on a
store that has them puts ``bw_ext`` first in its search path. Writes of measurement rows
(ingest without --external, reanalysis) are refused on such a store: they would bypass the
external dedup index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from blockwatch.store import context, rows

SCHEMA: Final = "bw_ext"
PART_COLUMN: Final = "bw_part"
# A block's id: -(task << 24 | chunk << 12 | block number in the chunk) - 1. A chunk holds at
# most 64 MiB of JSON in 256 KiB blocks (a text past that alone), far under 4,096 blocks.
CHUNK_SHIFT: Final = 12
TASK_SHIFT: Final = 24

_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS main.external_dirs (dir VARCHAR PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS main.external_parts"
    " (part VARCHAR PRIMARY KEY, task BIGINT, registered_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS main.external_ids (measurement_id VARCHAR PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS main.external_skipped (part VARCHAR, measurement_id VARCHAR)",
)


def block_id(task: int, chunk: int, number: int) -> int:
    """The store-wide id of block ``number`` of chunk ``chunk`` of task ``task``."""
    return -((task << TASK_SHIFT) | (chunk << CHUNK_SHIFT) | number) - 1


def has_external(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE schema_name = ? AND view_name = 'verdicts'",
        [SCHEMA],
    ).fetchall()
    return bool(found[0][0])


def enter(con: duckdb.DuckDBPyConnection) -> None:
    """Make this connection read through the external views (a store that has them)."""
    con.execute(f"SET search_path = '{SCHEMA},main'")


def prepare(con: duckdb.DuckDBPyConnection, folder: Path) -> int:
    """Create the index tables, record ``folder``; returns the first free task number."""
    for statement in _TABLES:
        con.execute(statement)
    con.execute("INSERT OR IGNORE INTO main.external_dirs VALUES (?)", [str(folder)])
    found = con.execute("SELECT coalesce(max(task), 0) + 1 FROM main.external_parts").fetchall()
    return int(found[0][0])


def register_chunk(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    part: str,
    task: int,
    progress: Sequence[tuple[str, int, int, int, bool]],
    network_names: Mapping[str, str],
) -> tuple[int, int]:
    """Register one chunk a worker wrote (inside the caller's transaction): its new ids go to
    the index, the ids already stored or registered to the skipped list. Returns (added,
    duplicates)."""
    files = sorted(str(p) for p in (folder / "measurements").glob(f"*/*/{part}-*.parquet"))
    added = duplicates = 0
    if files:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _bw_chunk_ids AS"
            " SELECT DISTINCT measurement_id FROM read_parquet(?)",
            [files],
        )
        duplicates = _count(
            con,
            "INSERT INTO main.external_skipped SELECT ?, c.measurement_id FROM _bw_chunk_ids c"
            " WHERE c.measurement_id IN (SELECT measurement_id FROM main.measurements)"
            " OR c.measurement_id IN (SELECT measurement_id FROM main.external_ids)",
            [part],
        )
        added = _count(
            con,
            "INSERT INTO main.external_ids SELECT c.measurement_id FROM _bw_chunk_ids c"
            " WHERE c.measurement_id NOT IN (SELECT measurement_id FROM main.external_skipped"
            " WHERE part = ?)",
            [part],
        )
        con.execute("DROP TABLE _bw_chunk_ids")
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("INSERT OR REPLACE INTO main.external_parts VALUES (?, ?, ?)", [part, task, now])
    if progress:
        marks = rows.FILE_ROWS.arrow([(*p, now) for p in progress])
        rows.FILE_ROWS.insert(con, marks, ignore=False, replace=True)
    if network_names:
        context.write_network_names(con, network_names, "measurements")
    return added, duplicates


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    found = con.execute(sql, params).fetchall()
    return int(found[0][0]) if found else 0


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the views over the store's tables and every registered folder."""
    dirs = [r[0] for r in con.execute("SELECT dir FROM main.external_dirs ORDER BY dir").fetchall()]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    registered = f"{PART_COLUMN} IN (SELECT part FROM main.external_parts)"
    not_skipped = (
        "NOT EXISTS (SELECT 1 FROM main.external_skipped s"
        f" WHERE s.part = x.{PART_COLUMN} AND s.measurement_id = x.measurement_id)"
    )
    for table, layout, where in (
        ("measurements", "*/*/*.parquet", f"{registered} AND {not_skipped}"),
        ("verdicts", "*/*/*.parquet", f"{registered} AND {not_skipped}"),
        ("raw_blocks", "*.parquet", registered),
    ):
        # A folder with no file of a table yet is left out: read_parquet refuses an empty glob.
        globs = [_quote(str(Path(d) / table / layout)) for d in dirs if _files(Path(d) / table)]
        source = f"SELECT * FROM main.{table}"
        if globs:
            source += (
                f" UNION ALL BY NAME SELECT * EXCLUDE ({PART_COLUMN})"
                f" FROM read_parquet([{', '.join(globs)}], union_by_name = true,"
                f" hive_partitioning = false) x WHERE {where}"
            )
        con.execute(f"CREATE OR REPLACE VIEW {SCHEMA}.{table} AS {source}")


def _files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.rglob("*.parquet"))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
