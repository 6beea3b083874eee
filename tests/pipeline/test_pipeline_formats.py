"""Files the reader must stream whole, end to end through ingest: .json over the 16 MiB record
cap (a JSON list, or JSONL saved as .json), byte-order marks and CR-only line ends."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.ooni.measurement import measurement_id
from blockwatch.pipeline import ingest_paths
from blockwatch.pipeline.ingest import MAX_RECORD_BYTES
from blockwatch.store import Store
from storehelpers import distinct_copies

PAD = 200_000  # bytes of padding per measurement: few records make a file over the cap


def _padded(qa_documents: list[dict[str, Any]], n: int, tag: str) -> list[dict[str, Any]]:
    return [{**d, "padding": "p" * PAD} for d in distinct_copies(qa_documents, n, tag)]


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("list.json", lambda docs: orjson.dumps(docs)),
        ("list.json.gz", lambda docs: orjson.dumps(docs, option=orjson.OPT_INDENT_2)),
        ("lines.json", lambda docs: b"\n".join(orjson.dumps(d) for d in docs) + b"\n"),
        ("lines.json.gz", lambda docs: b"\r".join(orjson.dumps(d) for d in docs)),
    ],
)
def test_a_json_file_over_the_record_cap_is_stored_record_by_record(
    store: Store, tmp_path: Path, qa_documents: list[dict[str, Any]], name: str, encode: Any
) -> None:
    n = MAX_RECORD_BYTES // PAD + 10
    docs = _padded(qa_documents, n, name)
    data = encode(docs)
    assert len(data) > MAX_RECORD_BYTES
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, compresslevel=1) if name.endswith(".gz") else data)

    report = ingest_paths(store, [path])

    assert (report.read, report.added, report.malformed) == (n, n, 0), report.errors[:3]
    assert store.raw_measurement(measurement_id(docs[-1])) == docs[-1]


@pytest.mark.parametrize("name", ["bom.jsonl", "bom.jsonl.gz", "bom.json"])
def test_a_byte_order_mark_loses_no_record(
    store: Store, tmp_path: Path, qa_documents: list[dict[str, Any]], name: str
) -> None:
    docs = list(distinct_copies(qa_documents, 5, name))
    data = b"\xef\xbb\xbf" + b"\n".join(orjson.dumps(d) for d in docs) + b"\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    report = ingest_paths(store, [path])
    assert (report.added, report.malformed) == (5, 0), report.errors
