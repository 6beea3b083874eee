"""Commands that used to mislead: each refuses clearly, says why a list is empty, and shows
what a user needs (event ids, whole cells at 80 columns, flags without a type)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from blockwatch.analysis.records import Event
from blockwatch.cli import app
from blockwatch.store import Store

runner = CliRunner()
WHEN = datetime(2024, 2, 12, tzinfo=UTC)


def _doc(n: int, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "measurement_start_time": (WHEN + timedelta(hours=n)).strftime("%Y-%m-%d %H:%M:%S"),
        "probe_cc": "PK",
        "probe_asn": "AS17557",
        "input": f"https://x.com/{n}",
        "report_id": f"r-{n}",
        "test_name": "web_connectivity",
        "software_name": "ooniprobe",
        "software_version": "3.20.0",
        "test_keys": {"blocking": "dns"},
    }
    doc.update(fields)
    return doc


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with four measurements from PK and two stored events with long ids."""
    folder = tmp_path_factory.mktemp("defects")
    source = folder / "in.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(_doc(i)) for i in range(4)) + b"\n")
    db = folder / "store.duckdb"
    res = runner.invoke(app, ["ingest", str(source), "--db", str(db), "--no-progress"])
    assert res.exit_code == 0, res.output
    with Store(db) as store:
        ids = tuple(v.measurement_id for v in store.verdicts())
        events = [
            Event("3f9c2a7be1d04c5a9e21", "censorship", "PK", "AS17557", "x.com", WHEN, None,
                  ("dns.nxdomain", "tls.reset"), 0.1, 0.9, ids),
            Event("a1b2c3d4e5f60718293a", "outage", "PK", "AS17557", None, WHEN,
                  WHEN + timedelta(hours=6), (), 0.0, 0.9, ids[:2]),
        ]  # fmt: skip
        store.replace_events(events)
    return db


def test_events_on_a_mistyped_store_refuses_and_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "TYPO.duckdb"
    for args in ([], ["--stored"]):
        res = runner.invoke(app, ["events", "--db", str(typo), *args])
        assert res.exit_code == 2, res.output
        assert "no store at" in res.output
    assert not typo.exists()


def test_ingest_fails_when_every_record_was_malformed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{\n")
    res = runner.invoke(app, ["ingest", str(bad), "--db", str(tmp_path / "s.duckdb"),
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "malformed: 2" in res.output and "no measurement was added" in res.output
    # One good record among bad ones is a partial success: exit 0, the bad ones named.
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"not json\n" + orjson.dumps(_doc(1)) + b"\n")
    res = runner.invoke(app, ["ingest", str(mixed), "--db", str(tmp_path / "s.duckdb"),
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "added: 1" in res.output and "malformed: 1" in res.output


@pytest.mark.parametrize("command", [["events", "--stored"], ["events"], ["verdicts"]])
@pytest.mark.parametrize(
    ("country", "hint"),
    [("XX", "no measurements from country XX"), ("Pakistan", "two-letter ISO 3166 code")],
)
def test_an_unknown_country_gets_a_hint_naming_the_known_ones(
    filled: Path, command: list[str], country: str, hint: str
) -> None:
    res = runner.invoke(app, [*command, "--db", str(filled), "--country", country])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert hint in out and "countries in" in out and "PK" in out, out


def test_a_known_country_gets_no_hint(filled: Path) -> None:
    res = runner.invoke(app, ["events", "--stored", "--db", str(filled), "--country", "pk"])
    assert res.exit_code == 0 and "hint" not in res.output, res.output


@pytest.mark.parametrize("columns", ["80", "200"])
def test_the_events_table_shows_whole_event_ids_and_cuts_no_cell(
    filled: Path, columns: str
) -> None:
    res = CliRunner(env={"COLUMNS": columns}).invoke(
        app, ["events", "--stored", "--db", str(filled)]
    )
    assert res.exit_code == 0, res.output
    assert "3f9c2a7be1d04c5a9e21" in res.output and "a1b2c3d4e5f60718293a" in res.output
    assert "…" not in res.output, res.output
    assert max(len(line) for line in res.output.splitlines()) <= int(columns)
    for word in ("censorship", "outage", "AS17557", "x.com", "dns.nxdomain", "tls.reset"):
        assert word in res.output, (word, res.output)


def _commands() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cmd in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):
            out.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            out[name] = cmd
    return out


def test_help_shows_no_type_for_flags() -> None:
    for name in _commands():
        res = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*name.split(), "--help"])
        assert res.exit_code == 0, (name, res.output)
        assert "<bool>" not in res.output, (name, res.output)
    res = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["events", "--help"])
    assert "<path>" in res.output  # options that take a value still say what it is


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("mode", [["--read-only"], []], ids=["dashboard", "observatory"])
def test_serve_on_a_busy_port_fails_before_printing_its_url(
    filled: Path, busy_port: int, mode: list[str]
) -> None:
    res = runner.invoke(app, ["serve", "--db", str(filled), "--port", str(busy_port), *mode])
    assert res.exit_code == 2, res.output
    assert f"cannot listen on 127.0.0.1:{busy_port}" in res.output
    assert "http://" not in res.output and "Ctrl-C" not in res.output


@pytest.mark.parametrize("command", [["verdicts"], ["events"], ["events", "--stored"]])
def test_a_file_that_is_not_a_store_is_named_as_such(tmp_path: Path, command: list[str]) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("these are my notes, not a store\n" * 100)
    res = runner.invoke(app, [*command, "--db", str(junk)])
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert f"{junk} is not a blockwatch store" in out, out
    assert "IO Error" not in out and "DuckDB database file!" not in out


def test_a_busy_store_is_explained_without_duckdbs_own_hints(filled: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]);"
         " print('ready', flush=True); sys.stdin.read()", str(filled)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        res = runner.invoke(app, ["events", "--db", str(filled)])
    finally:
        holder.communicate("", timeout=30)
    out = " ".join(res.output.split())
    assert res.exit_code == 2, out
    assert "is in use by another process" in out and f"pid {holder.pid}" in out, out
    assert "duckdb.org" not in out and "IO Error" not in out and "Conflicting lock" not in out


def test_report_refuses_an_output_folder_that_does_not_exist(filled: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "x.html"
    res = runner.invoke(app, ["report", "--db", str(filled), "--event", "3f9c2a7be1d04c5a9e21",
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "no folder" in " ".join(res.output.split())
    assert not (tmp_path / "no").exists()
    res = runner.invoke(app, ["report", "--db", str(filled), "--event", "3f9c2a7be1d04c5a9e21",
                              "--out", str(tmp_path / "x.html")])  # fmt: skip
    assert res.exit_code == 0 and (tmp_path / "x.html").is_file(), res.output
