"""The raw column: LZ4 frames for new rows, zlib rows of older stores still read, and the JSON
text of a JSONL line stored byte for byte."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from storehelpers import distinct_copies

from blockwatch.errors import StoreError
from blockwatch.ooni.measurement import measurement_id
from blockwatch.store import rawcodec
from blockwatch.store.store import Store


def test_encode_then_decode_gives_the_document_back(qa_documents: list[dict[str, Any]]) -> None:
    text = orjson.dumps(qa_documents[0])
    value = rawcodec.encode_raw(text)
    assert value[:4] == rawcodec.LZ4_MAGIC
    assert rawcodec.decompress_raw(value) == text
    assert rawcodec.decode_raw(value) == qa_documents[0]


def test_a_zlib_row_of_an_older_store_is_still_read(qa_documents: list[dict[str, Any]]) -> None:
    text = orjson.dumps(qa_documents[0])
    for level in (1, 6, 9):
        assert rawcodec.decode_raw(zlib.compress(text, level)) == qa_documents[0]


@pytest.mark.parametrize(
    "value",
    [b"not compressed at all", rawcodec.LZ4_MAGIC + b"\x00broken", zlib.compress(b"[1, 2]")],
    ids=["garbage", "broken_lz4", "not_an_object"],
)
def test_an_unreadable_raw_value_is_a_store_error(value: bytes) -> None:
    with pytest.raises(StoreError):
        rawcodec.decode_raw(value)


def test_a_jsonl_line_is_stored_byte_for_byte_and_the_codec_is_recorded(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 3, tag="exact"))
    # Spacing and key order orjson would not write: the stored text must be these bytes.
    lines = [orjson.dumps(d, option=orjson.OPT_INDENT_2).replace(b"\n", b" ") for d in docs]
    path = tmp_path / "spaced.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\n")

    report = store.ingest([path], progress=False)

    assert report.added == 3
    con = store.connect_read_only()
    for doc, line in zip(docs, lines, strict=True):
        (value,) = con.execute(
            "SELECT raw FROM measurements WHERE measurement_id = ?", [measurement_id(doc)]
        ).fetchone()
        assert rawcodec.decompress_raw(value) == line
        assert store.raw_measurement(measurement_id(doc)) == doc
    codec = con.execute("SELECT value FROM meta WHERE key = 'raw_codec'").fetchone()
    assert codec == (rawcodec.CODEC,)


def test_a_store_mixing_zlib_and_lz4_rows_reads_both(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    old, new = distinct_copies(qa_documents, 2, tag="mixed")
    path = tmp_path / "two.jsonl"
    path.write_bytes(orjson.dumps(old) + b"\n" + orjson.dumps(new) + b"\n")
    store.ingest([path], progress=False)
    # Rewrite one row as an older blockwatch wrote it.
    store.connect_read_only().execute(
        "UPDATE measurements SET raw = ? WHERE measurement_id = ?",
        [zlib.compress(orjson.dumps(old)), measurement_id(old)],
    )
    assert store.raw_measurement(measurement_id(old)) == old
    assert store.raw_measurement(measurement_id(new)) == new


def test_a_batch_meeting_stored_measurements_is_written_again_skipping_them(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 10, tag="retry"))
    first = tmp_path / "first.jsonl"
    first.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs[:4]))
    both = tmp_path / "both.jsonl"
    both.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    store.ingest([first], progress=False)

    report = store.ingest([both], progress=False)  # one batch: 4 present, 6 new

    assert (report.added, report.duplicates) == (6, 4)
    assert store.count("measurements") == store.count("verdicts") == 10
    assert store.file_progress()[str(both.resolve())][2:] == (10, True)
