"""Fuzzing the reader and ingest with byte-level damage to files made of real measurements.

Real OONI measurements (QA and fastpath) are written as JSONL (LF or CRLF, plain or gzip) or as
a JSON list (compact or pretty); then a few bytes are replaced, deleted or inserted. Whatever
the damage:

- nothing raises (no traceback, only our reports);
- every record whose bytes were not touched is kept, exactly as it was written. A record's
  bytes include the separator on each side of it (its line end, the comma): deleting the line
  end between two records runs them into one line, and both are then touched;
- each record read is accounted for once (added, duplicate, conflict or malformed), and every
  bad one is listed by file.

A last case damages the gzip stream itself: nothing raises, and everything is accounted for.
"""

from __future__ import annotations

import gzip
import hashlib
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockwatch.errors import MalformedMeasurement
from blockwatch.ooni.measurement import measurement_id
from blockwatch.ooni.reader import RawDocument, iter_documents
from blockwatch.pipeline import ingest_paths
from blockwatch.store import Store

SEEDS = [
    "qa/dnsBlockingBOGON.json",
    "qa/throttlingWithHTTP.json",
    "qa/cloudflareCAPTCHAWithHTTP.json",
    "fastpath/web_connectivity_ir_fp.json",
    "fastpath/signal_022.json",
]
FORMATS = ["lines.jsonl", "crlf.jsonl", "lines.jsonl.gz", "list.json", "pretty.json"]

Mutation = tuple[float, str, bytes]  # where (0..1 of the file), what, which byte
MUTATIONS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
        st.sampled_from(["replace", "delete", "insert"]),
        st.one_of(
            st.sampled_from([b'"', b"{", b"}", b"[", b"]", b",", b":", b"\n", b"\r", b"\\"]),
            st.binary(min_size=1, max_size=1),
        ),
    ),
    min_size=1,
    max_size=3,
)


@pytest.fixture(scope="module")
def seeds(ooni_data: Path) -> list[dict[str, Any]]:
    docs = []
    for i, name in enumerate(SEEDS):
        doc = orjson.loads((ooni_data / name).read_bytes())
        # Ids far apart: a one-byte change cannot turn one record's id into another's.
        doc["report_id"] = hashlib.sha256(f"fuzz-{i}".encode()).hexdigest()[:24]
        doc.pop("measurement_uid", None)
        docs.append(doc)
    return docs


def _layout(docs: list[dict[str, Any]], fmt: str) -> tuple[bytes, list[tuple[int, int]]]:
    """The file's (uncompressed) bytes and each record's span in them."""
    if fmt.endswith((".jsonl", ".jsonl.gz")):
        head, sep, tail = b"", b"\r\n" if fmt.startswith("crlf") else b"\n", b"\n"
        texts = [orjson.dumps(d) for d in docs]
    else:
        pretty = fmt.startswith("pretty")
        head, sep, tail = (b"[\n  ", b",\n  ", b"\n]") if pretty else (b"[", b", ", b"]")
        option = orjson.OPT_INDENT_2 if pretty else 0
        texts = [orjson.dumps(d, option=option) for d in docs]
    spans, pos = [], len(head)
    for text in texts:
        spans.append((pos, pos + len(text)))
        pos += len(text) + len(sep)
    return head + sep.join(texts) + tail, spans


def _damage(data: bytes, mutations: list[Mutation]) -> tuple[bytes, list[int]]:
    """The damaged bytes and where each change happened, in the original's positions."""
    out = bytearray(data)
    where = []
    for fraction, action, byte in sorted(mutations, key=lambda m: -m[0]):
        at = int(fraction * len(data))
        where.append(at)
        if action != "insert" and at >= len(out):  # a byte deleted at the same place already
            continue
        if action == "replace":
            out[at : at + 1] = byte
        elif action == "delete":
            del out[at]
        else:
            out[at:at] = byte
    return bytes(out), where


def _untouched(spans: list[tuple[int, int]], where: list[int], size: int) -> list[int]:
    """Records no change reached, the separators on both sides included (see the module
    doc): from the end of the record before (the file's start) to the start of the next one
    (the file's end)."""
    starts = [0] + [e for _, e in spans[:-1]]
    ends = [s for s, _ in spans[1:]] + [size]
    reach = zip(starts, ends, strict=True)
    return [i for i, (s, e) in enumerate(reach) if not any(s <= at <= e for at in where)]


def _write(folder: Path, fmt: str, data: bytes) -> Path:
    path = folder / fmt
    path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    return path


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(FORMATS), mutations=MUTATIONS)
def test_the_reader_keeps_every_untouched_record_of_a_damaged_file(
    seeds: list[dict[str, Any]], fmt: str, mutations: list[Mutation]
) -> None:
    data, spans = _layout(seeds, fmt)
    damaged, where = _damage(data, mutations)
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), fmt, damaged)
        items = list(iter_documents([path]))
    assert all(isinstance(i, RawDocument | MalformedMeasurement) for i in items)
    assert all(i.source == str(path) for i in items)
    read = [i.doc for i in items if isinstance(i, RawDocument)]
    for index in _untouched(spans, where, len(data)):
        assert seeds[index] in read, f"record {index + 1} lost: {items[:5]}"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(FORMATS), mutations=MUTATIONS)
def test_ingest_stores_every_untouched_record_and_lists_each_bad_one(
    seeds: list[dict[str, Any]], fmt: str, mutations: list[Mutation]
) -> None:
    data, spans = _layout(seeds, fmt)
    damaged, where = _damage(data, mutations)
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), fmt, damaged)
        with Store(Path(tmp) / "fuzz.duckdb") as store:
            report = ingest_paths(store, [path])
            kept = {i: store.raw_measurement(measurement_id(seeds[i])) for i in range(len(seeds))}
    for index in _untouched(spans, where, len(data)):
        assert kept[index] == seeds[index], f"record {index + 1} lost: {report.errors[:5]}"
    counted = report.added + report.duplicates + report.conflicts + report.malformed
    assert counted == report.read
    listed = report.malformed + report.conflicts + report.analysis_failed
    assert len(report.errors) == listed and report.unreadable == 0
    assert all(e.source.startswith(str(path)) for e in report.errors)
    if report.added < len(seeds):  # a record did not make it: it is listed (or met twice)
        assert report.errors or report.duplicates, "a record went missing without a word"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=MUTATIONS)
def test_damage_to_the_gzip_stream_itself_never_raises(
    seeds: list[dict[str, Any]], mutations: list[Mutation]
) -> None:
    data, _ = _layout(seeds, "lines.jsonl.gz")
    damaged, _ = _damage(gzip.compress(data), mutations)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.jsonl.gz"
        path.write_bytes(damaged)
        with Store(Path(tmp) / "fuzz.duckdb") as store:
            report = ingest_paths(store, [path])
            assert store.count("measurements") == report.added
    assert report.added + report.duplicates + report.conflicts + report.malformed == report.read
