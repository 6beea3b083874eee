"""Raw texts: zstd blocks for new rows, the LZ4 blocks and per-row LZ4 and zlib values of older
stores still read, and the JSON text of a JSONL line stored byte for byte."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import lz4.frame
import orjson
import pytest

from blockwatch.errors import StoreError
from blockwatch.ooni.measurement import measurement_id
from blockwatch.pipeline import ingest_paths
from blockwatch.store import Reads, Store, rawcodec, schema
from storehelpers import distinct_copies


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


def test_a_block_gives_back_every_text_at_its_offset() -> None:
    texts = [orjson.dumps({"n": i, "pad": "x" * (i * 37 % 5000)}) for i in range(200)]
    texts.append(b"{" + b'"big":"' + b"y" * (3 * rawcodec.BLOCK_BYTES) + b'"}')  # past a block
    builder = rawcodec.BlockBuilder()
    spans = [builder.add(t) for t in texts]
    assert builder.full
    data = builder.finish()
    whole = rawcodec.decompress_block(data)
    assert [rawcodec.text_of(None, whole, off, n) for off, n in spans] == texts
    assert len(data) < len(whole) / 4  # linked: each text compressed with those before it
    with pytest.raises(StoreError):
        rawcodec.text_of(None, whole, len(whole) - 2, 10)
    with pytest.raises(StoreError):
        rawcodec.decompress_block(rawcodec.LZ4_MAGIC + b"\x00broken")
    assert data[:4] == rawcodec.ZSTD_MAGIC


def test_a_changed_or_cut_zstd_block_is_a_store_error_not_other_text() -> None:
    builder = rawcodec.BlockBuilder()
    for i in range(300):
        builder.add(orjson.dumps({"n": i, "body": f"<html>{i * 7919}</html>"}))
    data = builder.finish()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01  # the frame's checksum catches it
    for damaged in (bytes(flipped), data[: len(data) // 2], data[:-1], rawcodec.ZSTD_MAGIC):
        with pytest.raises(StoreError, match="raw block unreadable"):
            rawcodec.decompress_block(damaged)


def test_lz4_blocks_of_an_older_store_read_beside_new_zstd_ones(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 6, tag="mixed"))
    older, newer = tmp_path / "older.jsonl", tmp_path / "newer.jsonl"
    older.write_bytes(b"\n".join(orjson.dumps(d) for d in docs[:3]) + b"\n")
    newer.write_bytes(b"\n".join(orjson.dumps(d) for d in docs[3:]) + b"\n")
    ingest_paths(store, [older])
    con = store.cursor()
    # The first file's block rewritten as blockwatch wrote blocks before zstd: an LZ4 frame.
    (block, data), *more = con.execute("SELECT block_id, data FROM raw_blocks").fetchall()
    assert not more and data[:4] == rawcodec.ZSTD_MAGIC
    old = lz4.frame.compress(rawcodec.decompress_block(data))
    con.execute("UPDATE raw_blocks SET data = ? WHERE block_id = ?", [old, block])
    ingest_paths(store, [newer])
    magics = {data[:4] for (data,) in con.execute("SELECT data FROM raw_blocks").fetchall()}
    assert magics == {rawcodec.LZ4_MAGIC, rawcodec.ZSTD_MAGIC}

    ids = [measurement_id(d) for d in docs]
    assert store.raw_texts(ids) == {i: orjson.dumps(d) for i, d in zip(ids, docs, strict=True)}


def test_a_jsonl_line_is_stored_byte_for_byte_and_the_codec_is_recorded(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 80, tag="exact"))
    # Spacing and key order orjson would not write: the stored text must be these bytes.
    lines = [orjson.dumps(d, option=orjson.OPT_INDENT_2).replace(b"\n", b" ") for d in docs]
    path = tmp_path / "spaced.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\n")

    report = ingest_paths(store, [path])

    assert report.added == 80
    ids = [measurement_id(d) for d in docs]
    assert store.raw_texts(ids) == dict(zip(ids, lines, strict=True))
    for doc in docs[:5]:
        assert store.raw_measurement(measurement_id(doc)) == doc
    con = store.cursor()
    # More than one block, and no measurement row holds a text of its own.
    assert con.execute("SELECT count(*) FROM raw_blocks").fetchone()[0] > 1
    assert con.execute("SELECT count(raw) FROM measurements").fetchone() == (0,)
    codec = con.execute("SELECT value FROM meta WHERE key = 'raw_codec'").fetchone()
    assert codec == (rawcodec.CODEC,)


def _schema_1_store(path: Path, rows: list[tuple[dict[str, Any], bytes]]) -> None:
    """A store as blockwatch wrote it before raw blocks: each text compressed in its row."""
    import duckdb

    con = duckdb.connect(str(path))
    for statement in schema.ddl():
        if "raw_blocks" in statement:
            continue
        for name, _ in schema.MEASUREMENT_COLUMNS_V2:
            statement = statement.replace(f',\n  "{name}" BIGINT', "")
        con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for doc, value in rows:
        con.execute(
            "INSERT INTO measurements (measurement_id, report_id, raw) VALUES (?, ?, ?)",
            [measurement_id(doc), doc["report_id"], value],
        )
    con.close()


def test_a_schema_1_store_is_upgraded_and_its_zlib_and_lz4_rows_still_read(
    qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    zlib_doc, lz4_doc, new = distinct_copies(qa_documents, 3, tag="v1")
    db = tmp_path / "v1.duckdb"
    _schema_1_store(
        db,
        [
            (zlib_doc, zlib.compress(orjson.dumps(zlib_doc))),
            (lz4_doc, rawcodec.encode_raw(orjson.dumps(lz4_doc))),
        ],
    )
    with Store(db, read_only=True) as ro:  # read as it is: no upgrade without a writer
        assert ro.raw_measurement(measurement_id(zlib_doc)) == zlib_doc
        assert ro.raw_texts([measurement_id(lz4_doc)]) == {
            measurement_id(lz4_doc): orjson.dumps(lz4_doc)
        }
    with Store(db, read_only=True) as ro:
        assert Reads(ro).raw_measurement(measurement_id(lz4_doc)) == lz4_doc

    with Store(db) as store:  # a writable open upgrades it
        path = tmp_path / "new.jsonl"
        path.write_bytes(orjson.dumps(new) + b"\n")
        assert ingest_paths(store, [path]).added == 1
        for doc in (zlib_doc, lz4_doc, new):
            assert store.raw_measurement(measurement_id(doc)) == doc
    with Store(db, read_only=True) as ro:
        version = (
            ro.cursor().execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        )
        assert version == (str(schema.SCHEMA_VERSION),)
        assert ro.raw_measurement(measurement_id(zlib_doc)) == zlib_doc
        assert ro.raw_measurement(measurement_id(new)) == new


def test_a_store_of_a_newer_schema_is_refused(store: Store, db: Path) -> None:
    store.cursor().execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    for read_only in (True, False):
        with pytest.raises(StoreError, match="newer blockwatch"):
            Store(db, read_only=read_only)


def test_two_writers_in_one_process_never_share_a_block_id(
    db: Path, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 40, tag="two"))
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"part{i}.jsonl")
        paths[-1].write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs[i * 10 : i * 10 + 10]))
    with Store(db) as a, Store(db) as b:  # DuckDB lets one process hold two connections
        for i, path in enumerate(paths):
            assert ingest_paths(a if i % 2 else b, [path]).added == 10
        ids = [measurement_id(d) for d in docs]
        assert a.raw_texts(ids) == {i: orjson.dumps(d) for i, d in zip(ids, docs, strict=True)}


def test_a_batch_meeting_stored_measurements_is_written_again_skipping_them(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 10, tag="retry"))
    first = tmp_path / "first.jsonl"
    first.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs[:4]))
    both = tmp_path / "both.jsonl"
    both.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    ingest_paths(store, [first])

    report = ingest_paths(store, [both])  # one batch: 4 present, 6 new

    assert (report.added, report.duplicates) == (6, 4)
    assert store.count("measurements") == store.count("verdicts") == 10
    assert store.file_progress()[str(both.resolve())][2:] == (10, True)
    ids = [measurement_id(d) for d in docs]
    assert store.raw_texts(ids) == {i: orjson.dumps(d) for i, d in zip(ids, docs, strict=True)}

    blocks = store.count("raw_blocks")
    again = tmp_path / "again.jsonl"  # the same measurements under another name
    again.write_bytes(both.read_bytes())
    assert ingest_paths(store, [again]).added == 0
    assert store.count("raw_blocks") == blocks  # a block nobody uses is not kept
