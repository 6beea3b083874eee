"""``ingest --external DIR``: the workers' chunks stay in DIR as Parquet partitioned by day and
country, and the store only registers them (store.external: the dedup index and the views).

A worker writes (here) each chunk as ``measurements/day=D/cc=C/NAME-i.parquet``,
``verdicts/day=D/cc=C/NAME-i.parquet`` and ``raw_blocks/NAME.parquet``, every row carrying the
chunk's name and every block its store-wide (negative) id. The loader (pipeline.bulk)
registers a chunk in one transaction with the input file's progress, so a killed run resumes
as a plain ingest does and a chunk written but not registered is never seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from blockwatch.pipeline.ingest import PreparedBatch
from blockwatch.store import external, rows

__all__ = ["arrow_table", "write_external_chunk"]

_PARTITIONING = ds.partitioning(
    pa.schema([("day", pa.string()), ("cc", pa.string())]), flavor="hive"
)


def arrow_table(table: rows.ArrowRows, values: list[tuple[Any, ...]]) -> pa.Table:
    """``values`` as ``table``'s Arrow table (with its columns when there are no rows)."""
    if values:
        return table.arrow(values)
    empty = [pa.array([], type=t) for t in table.types]
    return pa.Table.from_arrays(empty, names=table.names)


def _partitioned(data: pa.Table, part: str) -> pa.Table:
    """The rows with their chunk's name, and the day and country they are filed under."""
    day = pc.fill_null(pc.strftime(data.column("measured_at"), format="%Y-%m-%d"), "unknown")
    cc = pc.fill_null(data.column("probe_cc"), "ZZ")
    named = data.append_column(external.PART_COLUMN, pa.array([part] * len(data), pa.string()))
    return named.append_column("day", day).append_column("cc", cc)


def _write_rows(data: pa.Table, folder: Path, part: str) -> None:
    if not len(data):
        return
    ds.write_dataset(
        _partitioned(data, part),
        folder,
        format="parquet",
        partitioning=_PARTITIONING,
        basename_template=f"{part}-{{i}}.parquet",
        # A chunk rewritten by a rerun (it was never registered) replaces its own files only.
        existing_data_behavior="overwrite_or_ignore",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )


def write_external_chunk(
    batch: PreparedBatch, folder: Path, part: str, task: int, chunk: int
) -> None:
    """Write one prepared chunk into the external folder (on a worker)."""
    batch.close_block()
    measurements = arrow_table(rows.MEASUREMENT_ROWS, list(batch.measurements.values()))
    # The batch numbers its blocks from 0: block n becomes block_id(task, chunk, n).
    first = external.block_id(task, chunk, 0)
    at = measurements.schema.get_field_index("raw_block")
    numbered = pc.subtract(pa.scalar(first, pa.int64()), measurements.column(at))
    measurements = measurements.set_column(at, "raw_block", numbered)
    _write_rows(measurements, folder / "measurements", part)
    _write_rows(arrow_table(rows.VERDICT_ROWS, batch.verdicts), folder / "verdicts", part)
    data = batch.blocks.arrow().cast(pa.binary())
    if len(data):
        ids = pa.array([first - n for n in range(len(data))], pa.int64())
        names = pa.array([part] * len(data), pa.string())
        blocks = pa.Table.from_arrays(
            [ids, data, names], names=["block_id", "data", external.PART_COLUMN]
        )
        (folder / "raw_blocks").mkdir(parents=True, exist_ok=True)
        # The texts are compressed blocks already: compressing the file again would gain little.
        pq.write_table(blocks, folder / "raw_blocks" / f"{part}.parquet", compression="none")
