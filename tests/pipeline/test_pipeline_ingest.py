"""Ingest of real OONI data: idempotent, exactly once per measurement, resumable per file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.errors import MalformedMeasurement, StoreError
from blockwatch.ooni.measurement import measurement_id
from blockwatch.ooni.reader import RawDocument, iter_documents
from blockwatch.pipeline import ingest_documents, ingest_paths
from blockwatch.store import Store
from storehelpers import distinct_copies, write_jsonl

MEASUREMENT_DIRS = ("qa", "manual", "fastpath", "explorer")


@pytest.fixture(scope="session")
def real_dirs(ooni_data: Path) -> list[Path]:
    dirs = [ooni_data / d for d in MEASUREMENT_DIRS if (ooni_data / d).is_dir()]
    if not dirs:
        pytest.skip(f"no measurement folders under {ooni_data}")
    return dirs


def _distinct_ids(paths: list[Path]) -> set[str]:
    ids = set()
    for item in iter_documents(paths):
        if isinstance(item, RawDocument) and "test_name" in item.doc:
            ids.add(measurement_id(item.doc))
    return ids


def test_real_ooni_data_is_stored_once_and_reingest_adds_nothing(
    store: Store, real_dirs: list[Path], tmp_path: Path
) -> None:
    first = ingest_paths(store, real_dirs)
    expected = _distinct_ids(real_dirs)
    assert first.added == len(expected) == store.count("measurements")
    # fastpath/report1blocked.json is report1.json altered (same report, input and time):
    # the same id for a different document, a conflict.
    assert first.added + first.duplicates + first.conflicts + first.malformed == first.read
    assert first.analysis_failed == 0, first.errors[:3]
    assert store.count("verdicts") == first.added

    again = ingest_paths(store, real_dirs)
    assert (again.added, again.read, again.files_skipped) == (0, 0, first.files)

    # The same bytes under other names are read again, and every one is a duplicate.
    copy = tmp_path / "copy"
    shutil.copytree(real_dirs[0], copy)
    third = ingest_paths(store, [copy])
    assert third.read > 0
    assert third.added == 0
    assert third.duplicates == third.read - third.malformed
    assert store.count("measurements") == len(expected)


def test_raw_measurement_returns_the_document_as_ingested(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 5))
    ingest_paths(store, [write_jsonl(tmp_path / "five.jsonl", docs)])
    for doc in docs:
        assert store.raw_measurement(measurement_id(doc)) == doc


def test_an_interrupted_file_resumes_after_its_last_committed_line(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", list(distinct_copies(qa_documents, 300)))
    ingest_paths(store, [path], batch_size=50)
    # Make the store look as if a crash hit after line 120 was committed.
    con = store.cursor()
    con.execute(
        "DELETE FROM verdicts WHERE measurement_id IN (SELECT measurement_id FROM "
        "measurements WHERE CAST(split_part(source, ':', -1) AS INT) > 120)"
    )
    con.execute("DELETE FROM measurements WHERE CAST(split_part(source, ':', -1) AS INT) > 120")
    con.execute("UPDATE ingest_files SET lines_done = 120, complete = false")
    assert store.count("measurements") == 120

    resumed = ingest_paths(store, [path], batch_size=50)
    assert (resumed.read, resumed.added, resumed.duplicates) == (180, 180, 0)
    assert store.count("measurements") == store.count("verdicts") == 300


def test_an_appended_file_is_read_again_and_only_new_lines_are_added(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = list(distinct_copies(qa_documents, 40))
    path = write_jsonl(tmp_path / "grow.jsonl", docs[:25])
    ingest_paths(store, [path])
    write_jsonl(path, docs)
    report = ingest_paths(store, [path])
    assert (report.read, report.added, report.duplicates) == (40, 15, 25)
    assert store.count("measurements") == 40


def test_the_same_measurement_twice_in_one_file_is_one_row(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    doc = qa_documents[0]
    report = ingest_paths(store, [write_jsonl(tmp_path / "twice.jsonl", [doc, doc])])
    assert (report.added, report.duplicates) == (1, 1)


def test_ingest_documents_takes_dicts_and_raw_documents_idempotently(
    store: Store, qa_documents: list[dict[str, Any]]
) -> None:
    docs = list(distinct_copies(qa_documents, 30))
    items: list[Any] = docs[:20] + [RawDocument("probe", i, d) for i, d in enumerate(docs[20:])]
    items.append(MalformedMeasurement("probe", 99, "not valid JSON"))
    first = ingest_documents(store, items)
    assert (first.read, first.added, first.malformed) == (31, 30, 1)
    assert str(first.errors[0]) == "probe:99: not valid JSON"
    second = ingest_documents(store, docs)
    assert (second.added, second.duplicates) == (0, 30)
    assert store.count("verdicts") == 30


def test_inline_and_threaded_writers_store_the_same_rows(
    tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", distinct_copies(qa_documents, 120))
    tables = []
    for threaded in (False, True):
        with Store(tmp_path / f"{threaded}.duckdb") as store:
            report = ingest_paths(store, [path], batch_size=25, threaded=threaded)
            assert (report.read, report.added) == (120, 120)
            con = store.cursor()
            tables.append(
                (
                    con.execute("SELECT * FROM measurements ORDER BY measurement_id").fetchall(),
                    con.execute("SELECT * FROM verdicts ORDER BY measurement_id").fetchall(),
                )
            )
    assert tables[0] == tables[1]


class FailingStore(Store):
    """A store whose third batch write fails, as a full disk would."""

    writes = 0

    def write_batch(self, *args: Any, **kwargs: Any) -> int:
        self.writes += 1
        if self.writes == 3:
            raise StoreError("disk full (simulated)")
        return super().write_batch(*args, **kwargs)


@pytest.mark.parametrize("threaded", [False, True])
def test_a_failing_write_stops_ingest_with_its_error_and_keeps_earlier_batches(
    tmp_path: Path, qa_documents: list[dict[str, Any]], threaded: bool
) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", distinct_copies(qa_documents, 100))
    with FailingStore(tmp_path / "f.duckdb") as store:
        with pytest.raises(StoreError, match="disk full"):
            ingest_paths(store, [path], batch_size=10, threaded=threaded)
        assert store.count("measurements") == 20
    with Store(tmp_path / "f.duckdb") as store:
        resumed = ingest_paths(store, [path], batch_size=10)
        assert (resumed.read, resumed.added) == (80, 80)
        assert store.count("measurements") == 100


def test_times_with_an_offset_are_stored_as_utc(
    store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    (doc,) = distinct_copies(qa_documents, 1, tag="offset")
    doc["measurement_start_time"] = "2024-02-17T12:00:00+05:00"
    ingest_paths(store, [write_jsonl(tmp_path / "offset.jsonl", [doc])])

    utc = datetime(2024, 2, 17, 7, 0)
    con = store.cursor()
    assert con.execute("SELECT measured_at FROM measurements").fetchall() == [(utc,)]
    assert con.execute("SELECT measured_at FROM verdicts").fetchall() == [(utc,)]
    assert store.verdicts()[0].measured_at == utc.replace(tzinfo=UTC)


class RecordingStore(Store):
    """A store that remembers the JSON bytes of each batch it was asked to write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[int]] = []

    def write_batch(self, measurement_rows: Any, *args: Any, **kwargs: Any) -> int:
        self.batches.append([row[-1] for row in measurement_rows])  # raw_length
        return super().write_batch(measurement_rows, *args, **kwargs)


def test_a_batch_closes_at_its_byte_cap_before_its_record_count(
    tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    docs = [{**d, "padding": "p" * 100_000} for d in distinct_copies(qa_documents, 30, "big")]
    path = write_jsonl(tmp_path / "big.jsonl", docs)
    cap = 350_000
    with RecordingStore(tmp_path / "r.duckdb") as store:
        report = ingest_paths(store, [path], batch_size=1000, batch_bytes=cap)
        assert report.added == 30 and store.count("measurements") == 30
        sizes = [b for b in store.batches if b]
    assert sum(len(b) for b in sizes) == 30
    assert len(sizes) >= 30 * 100_000 // cap
    for batch in sizes[:-1]:
        # Closed by the record that reached the cap: below it without that record.
        assert sum(batch) >= cap and sum(batch[:-1]) < cap


class _CountingConnection:
    """A DuckDB connection that counts the statements run on it."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self._con.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_the_bookkeeping_of_many_small_files_is_one_statement_per_batch(
    store: Store, tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i, doc in enumerate(distinct_copies(qa_documents, 300, "small")):
        write_jsonl(folder / f"m{i:04d}.jsonl", [doc])
    counting = _CountingConnection(store._con)
    store._con = counting  # type: ignore[assignment]
    report = ingest_paths(store, [folder], batch_size=1000)
    store._con = counting._con
    assert (report.files, report.added) == (300, 300)
    # One batch: a handful of statements, not one per file.
    assert counting.statements < 30, counting.statements
    rows = store.cursor().execute("SELECT count(*), bool_and(complete) FROM ingest_files")
    assert rows.fetchone() == (300, True)


def _with_uid(doc: dict[str, Any], uid: str, **changes: Any) -> dict[str, Any]:
    return {**doc, "measurement_uid": uid, **changes}


def test_a_measurement_uid_reused_by_a_different_document_is_a_conflict_not_a_duplicate(
    store: Store, tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    doc = qa_documents[0]
    same = _with_uid(doc, "20240101T000000Z_uid_same")
    first = _with_uid(doc, "20240101T000000Z_uid_conflict", probe_cc="IT")
    forged = _with_uid(doc, "20240101T000000Z_uid_conflict", probe_cc="IR")
    one = write_jsonl(tmp_path / "one.jsonl", [same, first, same, forged])

    report = ingest_paths(store, [one])

    assert (report.added, report.duplicates, report.conflicts) == (2, 1, 1)
    [err] = report.errors
    assert str(err).startswith(f"{one}:4: conflict: measurement_id 20240101T000000Z_uid_conflict")
    assert f"kept: {one}:2" in str(err)
    assert store.raw_measurement("20240101T000000Z_uid_conflict")["probe_cc"] == "IT"

    # Across runs: the stored document is compared, not only the id.
    pretty = tmp_path / "again.json"
    pretty.write_bytes(orjson.dumps([first, forged], option=orjson.OPT_INDENT_2))
    again = ingest_paths(store, [pretty])
    assert (again.added, again.duplicates, again.conflicts) == (0, 1, 1)
    [err] = again.errors
    assert str(err).startswith(f"{pretty}:2: conflict: measurement_id 20240101T000000Z_uid_c")
    assert store.raw_measurement("20240101T000000Z_uid_conflict")["probe_cc"] == "IT"


def test_the_cli_counts_conflicts(
    cli: Any, db: Path, tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    doc = qa_documents[0]
    path = write_jsonl(
        tmp_path / "c.jsonl", [_with_uid(doc, "u1"), _with_uid(doc, "u1", probe_cc="IR")]
    )
    result = cli("ingest", path, "--db", db, "--no-progress")
    assert result.exit_code == 0
    assert "conflicts: 1" in result.output and f"{path}:2: conflict:" in result.output
