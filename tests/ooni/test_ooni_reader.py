"""Reading OONI files: every format we accept, and bad records reported in place."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockwatch.errors import InputError, MalformedMeasurement
from blockwatch.ooni.reader import RawDocument, iter_documents

UID = "20201029043459.005820_RU_webconnectivity_604f1cb2579d144d"


def _qa_docs(ooni_data: Path, n: int) -> list[dict]:
    files = sorted((ooni_data / "qa").glob("*.json"))[:n]
    return [orjson.loads(f.read_bytes()) for f in files]


def _split(items: list) -> tuple[list[RawDocument], list[MalformedMeasurement]]:
    docs = [i for i in items if isinstance(i, RawDocument)]
    errs = [i for i in items if isinstance(i, MalformedMeasurement)]
    return docs, errs


def test_a_directory_of_single_measurement_files_yields_one_document_per_file(ooni_data):
    docs, errs = _split(list(iter_documents([ooni_data / "qa"])))
    assert len(docs) == 50 and errs == []
    assert all(d.line is None and d.doc["test_name"] == "web_connectivity" for d in docs)
    assert docs[0].source.endswith("badSSLWithExpiredCertificate.json")  # sorted walk


def test_explorer_api_responses_are_unwrapped_to_the_raw_measurement(ooni_data):
    name = f"measurement_meta__measurement_uid-{UID}_full-true.json"
    [item] = list(iter_documents([ooni_data / "explorer" / name]))
    assert isinstance(item, RawDocument)
    assert item.doc["test_name"] == "web_connectivity"
    assert item.doc["input"] == "http://www.pokerroom.com/"
    assert item.doc["measurement_uid"] == UID
    assert isinstance(item.doc["test_keys"], dict)


def test_jsonl_content_saved_as_json_yields_each_line_with_its_number(ooni_data):
    items = list(iter_documents([ooni_data / "manual" / "oonireport_testmeasurement.json"]))
    docs, errs = _split(items)
    assert errs == [] and [d.line for d in docs] == [1, 2]
    assert {d.doc["test_name"] for d in docs} == {"urlgetter"}


def test_jsonc_comment_lines_are_ignored(ooni_data):
    path = ooni_data / "manual" / "20230706183840.201925_PK_webconnectivity_19f5e0d803cbaea7.jsonc"
    [item] = list(iter_documents([path]))
    assert isinstance(item, RawDocument) and item.doc["blocking"] == "dns"


def test_ooni_raw_layout_of_gzipped_jsonl_is_walked(ooni_data, tmp_path):
    docs = _qa_docs(ooni_data, 5)
    folder = tmp_path / "20240212" / "20" / "IT" / "webconnectivity"
    folder.mkdir(parents=True)
    with gzip.open(folder / "2024021220_IT_webconnectivity.n0.0.jsonl.gz", "wb") as fh:
        fh.write(b"".join(orjson.dumps(d) + b"\n" for d in docs[:3]))
    (folder / "extra.json.gz").write_bytes(gzip.compress(orjson.dumps(docs[3])))
    (folder / "notes.txt").write_text("not a measurement file")
    got, errs = _split(list(iter_documents([tmp_path])))
    assert errs == []
    assert [d.doc["input"] for d in got] == [d["input"] for d in docs[:4]]
    assert [d.line for d in got] == [1, 2, 3, None]


def test_bad_lines_are_reported_in_place_and_good_lines_around_them_survive(ooni_data, tmp_path):
    good = [orjson.dumps(d) for d in _qa_docs(ooni_data, 3)]
    lines = [good[0], b"{not json", b"[1, 2, 3]", b"42", b"", good[1], b'"text"', good[2]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(iter_documents([path]))
    kinds = [(type(i).__name__, i.line) for i in items]
    assert kinds == [
        ("RawDocument", 1),
        ("MalformedMeasurement", 2),
        ("MalformedMeasurement", 3),
        ("MalformedMeasurement", 4),
        ("RawDocument", 6),
        ("MalformedMeasurement", 7),
        ("RawDocument", 8),
    ]
    assert "not valid JSON" in items[1].reason
    assert "found list" in items[2].reason and "found int" in items[3].reason
    assert str(items[1]).startswith(f"{path}:2: ")


def test_a_truncated_gzip_yields_the_lines_before_the_cut_then_one_error(ooni_data, tmp_path):
    docs = _qa_docs(ooni_data, 8)
    blob = gzip.compress(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    items = list(iter_documents([path]))
    good, errs = _split(items)
    assert 1 <= len(good) < 8 and len(errs) == 1
    assert items[-1] is errs[0] and errs[0].line == len(good) + 1
    assert [d.doc["input"] for d in good] == [d["input"] for d in docs[: len(good)]]


def test_a_line_over_the_cap_is_reported_without_being_loaded(ooni_data, tmp_path):
    doc = _qa_docs(ooni_data, 1)[0]
    huge = orjson.dumps({**doc, "padding": "x" * 100_000})
    path = tmp_path / "big.jsonl"
    path.write_bytes(huge + b"\n" + orjson.dumps(doc) + b"\n")
    items = list(iter_documents([path], max_line_bytes=50_000))
    assert isinstance(items[0], MalformedMeasurement) and "cap" in items[0].reason
    assert items[0].line == 1
    assert isinstance(items[1], RawDocument) and items[1].line == 2


def test_a_50_mib_body_is_read_but_a_smaller_cap_rejects_it(tmp_path):
    doc = {
        "test_name": "web_connectivity",
        "measurement_start_time": "2024-01-01 00:00:00",
        "test_keys": {"requests": [{"response": {"body": "a" * (50 * 1024 * 1024)}}]},
    }
    path = tmp_path / "body.jsonl"
    path.write_bytes(orjson.dumps(doc) + b"\n")
    [item] = list(iter_documents([path]))
    assert isinstance(item, RawDocument)
    [item] = list(iter_documents([path], max_line_bytes=1 << 20))
    assert isinstance(item, MalformedMeasurement)


def test_deeply_nested_json_becomes_a_malformed_measurement(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n{}\n")
    items = list(iter_documents([path]))
    assert isinstance(items[0], MalformedMeasurement) and items[0].line == 1
    assert isinstance(items[1], RawDocument) and items[1].doc == {}


def test_a_missing_path_raises_input_error(tmp_path):
    with pytest.raises(InputError) as info:
        list(iter_documents([tmp_path / "nope.jsonl"]))
    assert "nope.jsonl" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.just(b'{"test_name": "signal", "measurement_start_time": "2024-01-01 00:00:00"}'),
            st.binary(max_size=40).filter(lambda b: b"\n" not in b),
        ),
        max_size=12,
    ),
    cut=st.floats(min_value=0.0, max_value=1.0),
)
def test_any_damaged_gzip_yields_documents_and_errors_but_never_raises(lines, cut):
    import tempfile

    blob = gzip.compress(b"\n".join(lines) + b"\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.jsonl.gz"
        path.write_bytes(blob[: max(1, int(len(blob) * cut))] if cut < 1 else blob)
        items = list(iter_documents([path]))
    assert all(isinstance(i, RawDocument | MalformedMeasurement) for i in items)
    if cut >= 1:
        assert sum(isinstance(i, RawDocument) for i in items) >= sum(
            1 for line in lines if line.startswith(b'{"test_name"')
        )


# --- byte-order marks, line ends, JSON arrays streamed (issue 11, items 2 and 3) -------------

BOM = b"\xef\xbb\xbf"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.json", "a.json.gz"])
def test_a_byte_order_mark_at_the_start_is_ignored(ooni_data, tmp_path, name):
    docs = _qa_docs(ooni_data, 3)
    path = _write(tmp_path / name, BOM + b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    got, errs = _split(list(iter_documents([path])))
    assert errs == [] and [d.doc for d in got] == docs
    assert [d.line for d in got] == [1, 2, 3]


def test_a_byte_order_mark_before_one_pretty_printed_measurement_is_ignored(ooni_data, tmp_path):
    [doc] = _qa_docs(ooni_data, 1)
    path = _write(tmp_path / "one.json", BOM + orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    [item] = list(iter_documents([path]))
    assert isinstance(item, RawDocument) and item.doc == doc


@pytest.mark.parametrize("end", [b"\r", b"\r\n", b"\n"], ids=["cr", "crlf", "lf"])
@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.json"])
def test_cr_crlf_and_lf_line_ends_each_separate_records(ooni_data, tmp_path, name, end):
    docs = _qa_docs(ooni_data, 4)
    path = _write(tmp_path / name, end.join(orjson.dumps(d) for d in docs) + end)
    got, errs = _split(list(iter_documents([path])))
    assert errs == [] and [d.doc for d in got] == docs
    assert [d.line for d in got] == [1, 2, 3, 4]
    assert all(d.raw == orjson.dumps(d.doc) for d in got)  # the line end is not kept


def test_a_crlf_split_between_two_chunks_ends_one_line_only(ooni_data, tmp_path):
    docs = _qa_docs(ooni_data, 2)
    first = orjson.dumps(docs[0])
    # Pad the first line so that its CR is the last byte of the first 1 MiB chunk.
    pad = (1 << 20) - len(first) - 1
    line1 = first[:-1] + b', "pad": "' + b"x" * (pad - 11) + b'"}'
    assert len(line1) == (1 << 20) - 1
    path = _write(tmp_path / "crlf.jsonl", line1 + b"\r\n" + orjson.dumps(docs[1]) + b"\r\n")
    got, errs = _split(list(iter_documents([path])))
    assert errs == [] and [d.line for d in got] == [1, 2]


@pytest.mark.parametrize("indent", [False, True], ids=["compact", "pretty"])
def test_a_json_array_larger_than_the_cap_is_streamed_element_by_element(
    ooni_data, tmp_path, indent
):
    docs = _qa_docs(ooni_data, 50)
    option = orjson.OPT_INDENT_2 if indent else 0
    data = orjson.dumps(docs, option=option)
    cap = max(len(orjson.dumps(d, option=option)) for d in docs) * 2
    assert len(data) > 5 * cap
    path = _write(tmp_path / "list.json.gz", data)
    got, errs = _split(list(iter_documents([path], max_line_bytes=cap)))
    assert errs == [] and [d.doc for d in got] == docs
    assert [d.line for d in got] == list(range(1, 51))
    assert all(orjson.loads(d.raw) == d.doc for d in got)  # each element's own bytes


def test_an_element_over_the_cap_is_reported_and_the_others_kept(ooni_data, tmp_path):
    docs = _qa_docs(ooni_data, 3)
    big = {**docs[1], "padding": "x" * 100_000}
    path = _write(tmp_path / "list.json", orjson.dumps([docs[0], big, docs[2]]))
    items = list(iter_documents([path], max_line_bytes=50_000))
    assert [type(i).__name__ for i in items] == ["RawDocument", "MalformedMeasurement"] * 1 + [
        "RawDocument"
    ]
    assert "cap" in items[1].reason and items[1].line == 2
    assert items[2].doc == docs[2]


def test_jsonl_saved_as_json_larger_than_the_cap_is_read_line_by_line(ooni_data, tmp_path):
    docs = _qa_docs(ooni_data, 50)
    data = b"\n".join(orjson.dumps(d) for d in docs) + b"\n"
    cap = max(len(orjson.dumps(d)) for d in docs) * 2
    path = _write(tmp_path / "lines.json", data)
    got, errs = _split(list(iter_documents([path], max_line_bytes=cap)))
    assert errs == [] and [d.doc for d in got] == docs


def test_one_pretty_printed_value_over_the_cap_is_one_error(ooni_data, tmp_path):
    [doc] = _qa_docs(ooni_data, 1)
    path = _write(tmp_path / "big.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    [item] = list(iter_documents([path], max_line_bytes=1000))
    assert isinstance(item, MalformedMeasurement) and "larger than the 1000-byte cap" in item.reason


@pytest.mark.parametrize(
    ("damage", "bad"),
    [
        (lambda t: t.replace(b'"input"', b'"in"put"', 1), 1),  # a stray quote
        (lambda t: t.replace(b"}", b"", 1), 1),  # a closing brace lost
        (lambda t: t.replace(b"{", b"]", 1), 1),  # an early closing bracket
        (lambda t: t[: len(t) // 2], 1),  # cut in the middle of the array
    ],
    ids=["stray_quote", "lost_brace", "stray_bracket", "truncated"],
)
def test_a_damaged_array_element_is_reported_and_the_untouched_ones_kept(
    ooni_data, tmp_path, damage, bad
):
    docs = _qa_docs(ooni_data, 5)
    texts = [orjson.dumps(d) for d in docs]
    texts[2] = damage(texts[2])
    path = _write(tmp_path / "list.json", b"[" + b", ".join(texts) + b"]")
    got, errs = _split(list(iter_documents([path])))
    assert [d.doc for d in got] == [docs[0], docs[1], docs[3], docs[4]]
    assert len(errs) >= bad and all(e.source == str(path) for e in errs)


def test_list_elements_with_non_ascii_text_keep_their_exact_bytes(ooni_data, tmp_path):
    # orjson reports where an element ends in characters; the reader must cut at the bytes.
    docs = [{**d, "probe_city": "Zürich € 😀 دمشق"} for d in _qa_docs(ooni_data, 4)]
    texts = [orjson.dumps(d) for d in docs]
    path = _write(tmp_path / "utf8.json", b"[" + b" ,\n".join(texts) + b"]")
    got, errs = _split(list(iter_documents([path], max_line_bytes=1 << 20)))
    assert errs == [] and [d.doc for d in got] == docs
    assert [d.raw for d in got] == texts
