"""Bad input, end to end through `blockwatch ingest`: each bad record is named by file and line,
and every good record around it is kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.ooni.measurement import measurement_id
from blockwatch.store import Store
from storehelpers import distinct_copies, write_jsonl


def _wrong_types(doc: dict[str, Any]) -> bytes:
    return orjson.dumps({**doc, "measurement_start_time": 1707770027, "report_id": "wrong"})


def _nested(doc: dict[str, Any], depth: int) -> bytes:
    """A real measurement with one extra value nested ``depth`` lists deep."""
    text = orjson.dumps({**doc, "report_id": f"deep{depth}", "nested": "@@"})
    return text.replace(b'"@@"', b"[" * depth + b"]" * depth)


# name, the bad line (given a real measurement to distort), words the error must contain
BAD_LINES = [
    ("non_json", lambda d: b'{"test_name": "web_connectivity", "input": ', "not valid JSON"),
    ("not_an_object", lambda d: b'["web_connectivity", 1, 2]', "expected a JSON object"),
    ("not_a_measurement", lambda d: b'{"hello": "world"}', "missing key"),
    (
        "missing_keys",
        lambda d: orjson.dumps({k: v for k, v in d.items() if k != "measurement_start_time"}),
        "missing key 'measurement_start_time'",
    ),
    ("wrong_types", _wrong_types, "measurement_start_time is not a string"),
    (
        "test_keys_not_object",
        lambda d: orjson.dumps({**d, "test_keys": "blocked", "report_id": "tk"}),
        "test_keys is str",
    ),
    (
        "body_of_50_mb",
        lambda d: orjson.dumps({**d, "report_id": "big", "test_keys": {"body": "A" * 50_000_000}}),
        "cap, skipped",
    ),
    ("deeply_nested", lambda d: _nested(d, 100_000), "not valid JSON"),
    (
        "year_9999",
        lambda d: orjson.dumps({**d, "measurement_start_time": "9999-12-31 23:59:59"}),
        "is outside 2012-01-01 .. 2099-12-31",
    ),
]


@pytest.mark.parametrize(("name", "make_bad", "words"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_a_bad_line_is_reported_with_file_and_line_and_its_neighbours_are_kept(
    cli: Any,
    db: Path,
    tmp_path: Path,
    qa_documents: list[dict[str, Any]],
    name: str,
    make_bad: Any,
    words: str,
) -> None:
    before, after = distinct_copies(qa_documents, 2, tag=name)
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(
        orjson.dumps(before)
        + b"\n"
        + make_bad(qa_documents[0])
        + b"\n"
        + orjson.dumps(after)
        + b"\n"
    )

    result = cli("ingest", path, "--db", db, "--no-progress")

    assert result.exit_code == 0, result.output
    assert f"{path}:2: " in result.output
    assert words in result.output
    assert "added: 2" in result.output and "malformed: 1" in result.output
    with Store(db, read_only=True) as store:
        assert store.count("measurements") == 2
        for doc in (before, after):
            assert store.raw_measurement(measurement_id(doc)) == doc


def test_a_measurement_nested_deeper_than_orjson_writes_is_stored_byte_for_byte(
    cli: Any, db: Path, tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    # orjson reads 1024 levels but writes 254: the store keeps the text as read, and nothing
    # downstream writes it again (the evidence report hashes the stored bytes).
    deep = _nested(qa_documents[0], 600)
    path = tmp_path / "deep.jsonl"
    path.write_bytes(deep + b"\n")
    result = cli("ingest", path, "--db", db, "--no-progress")
    assert result.exit_code == 0 and "added: 1" in result.output, result.output
    doc = orjson.loads(deep)
    with Store(db, read_only=True) as store:
        assert store.raw_measurement(measurement_id(doc)) == doc


def test_a_truncated_gzip_keeps_every_whole_line_before_the_cut_and_the_next_file(
    cli: Any, db: Path, tmp_path: Path, qa_documents: list[dict[str, Any]]
) -> None:
    whole = write_jsonl(tmp_path / "whole.jsonl.gz", distinct_copies(qa_documents, 400, "w"))
    data = whole.read_bytes()
    cut = tmp_path / "a_cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    other = write_jsonl(tmp_path / "b_other.jsonl", distinct_copies(qa_documents, 10, "o"))

    result = cli("ingest", cut, other, "--db", db, "--no-progress")

    assert result.exit_code == 0, result.output
    assert f"{cut}:" in result.output and "unreadable compressed data" in result.output
    bad_line = int(result.output.split(f"{cut}:")[1].split(":")[0])
    # What can still be decompressed from the cut file, counted independently of the reader.
    readable = zlib.decompressobj(31).decompress(cut.read_bytes())
    whole_lines = readable.count(b"\n")
    assert 100 < whole_lines < 400
    assert bad_line == whole_lines + 1
    with Store(db, read_only=True) as store:
        assert store.count("measurements") == whole_lines + 10


def test_a_missing_path_is_a_clean_error_and_creates_no_rows(
    cli: Any, db: Path, tmp_path: Path
) -> None:
    result = cli("ingest", tmp_path / "nope.jsonl", "--db", db, "--no-progress")
    assert result.exit_code == 2
    assert "nope.jsonl: no such file or directory" in " ".join(result.output.split())
    assert "Traceback" not in result.output


NOBODY = 65534
# Root reads a mode-000 directory anyway, so the ingest runs as nobody, for whom it is shut.
# The interpreter lives under /root (closed to nobody): the child loads what it needs first,
# then drops to nobody for good, then runs the command.
AS_NOBODY = """
import os, sys
from pathlib import Path
from rich.console import Console
from blockwatch.cli.store import print_report
from blockwatch.pipeline import ingest_paths
from blockwatch.store import Store
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
with Store(sys.argv[2]) as store:
    report = ingest_paths(store, [Path(sys.argv[1])])
print_report(report, Console(soft_wrap=True))
""".replace("NOBODY", str(NOBODY))


def test_an_unreadable_subdirectory_is_reported_with_its_path_and_counted(
    qa_documents: list[dict[str, Any]],
) -> None:
    root = Path(tempfile.mkdtemp(prefix="bw-unreadable-"))  # in /tmp: nobody can reach it
    data = root / "data"
    try:
        (data / "a").mkdir(parents=True)
        (data / "locked").mkdir()
        (data / "z").mkdir()
        write_jsonl(data / "a" / "one.jsonl", distinct_copies(qa_documents, 2, "a"))
        write_jsonl(data / "locked" / "hidden.jsonl", distinct_copies(qa_documents, 2, "l"))
        write_jsonl(data / "z" / "two.jsonl", distinct_copies(qa_documents, 3, "z"))
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (data / "locked").chmod(0o000)
        (root / "db").mkdir()
        if os.geteuid() == 0:
            os.chown(root / "db", NOBODY, NOBODY)
        args = [str(data), str(root / "db" / "x.duckdb")]
        done = subprocess.run(
            [sys.executable, "-c", AS_NOBODY, *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
            env={**os.environ, "HOME": str(root)},
        )
    finally:
        (data / "locked").chmod(0o755)
        shutil.rmtree(root)
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "added: 5" in out and "unreadable: 1" in out, out
    assert f"{data / 'locked'}: cannot list directory: Permission denied" in out
