"""Stored and measured text reaches the terminal escaped: rich markup in a value never crashes a
command, and a control sequence in a value never reaches the analyst's terminal raw."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from blockwatch.analysis.records import Event, Verdict
from blockwatch.cli import app
from blockwatch.cli.progress import ByteProgress
from blockwatch.cli.session import verdict_table
from blockwatch.store import Store
from blockwatch.terminal import clean, markup, terminal_stream

runner = CliRunner()

# Markup that rich cannot parse, a screen clear, a bell, a right-to-left override.
HOSTILE = "[/x]\x1b[2J\x07\u202e[bold red]"
RAW_CONTROLS = ("\x1b", "\x07", "\u202e")
WHEN = "2024-02-12 20:33:47"


def _measurement(n: int, **fields: str) -> dict[str, object]:
    doc: dict[str, object] = {
        "measurement_start_time": WHEN,
        "probe_cc": "\x1b[2J",
        "probe_asn": "[/x]",
        "input": f"http://evil.example/{n}/{HOSTILE}",
        "report_id": f"r-{n}-{HOSTILE}",
        "test_name": "web_connectivity",
        "software_name": HOSTILE,
        "software_version": "1",
        "test_keys": {"blocking": HOSTILE},
    }
    doc.update(fields)
    return doc


def _safe(res: Result) -> str:
    """The command's whole output, checked: no crash, no raw control character."""
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    for char in RAW_CONTROLS:
        assert char not in res.output, f"{char!r} reached the terminal raw:\n{res.output!r}"
    return res.output


def _store_hostile_event(db: Path) -> None:
    """An event with hostile fields, on every stored measurement (`events` replaces it)."""
    with Store(db) as store:
        ids = [v.measurement_id for v in store.verdicts()]
        when = datetime(2024, 2, 12, tzinfo=UTC)
        event = Event(
            f"ev-{HOSTILE}", "censorship", "\x1b[2J", "[/x]", f"evil{HOSTILE}", when, None,
            (HOSTILE,), 0.1, 0.9, tuple(ids),
        )  # fmt: skip
        store.replace_events([event])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    """A store filled by `blockwatch ingest` (progress bar on) from a file with a hostile name
    holding hostile measurements and bad records; plus an event with hostile fields."""
    folder = tmp_path_factory.mktemp("hostile")
    source = folder / f"in{HOSTILE}.jsonl"  # a folder "in[" holding "x]...jsonl"
    source.parent.mkdir()
    lines = [orjson.dumps(_measurement(i)) for i in range(3)]
    lines.append(orjson.dumps(_measurement(9, measurement_start_time="not a time")))
    source.write_bytes(b"\n".join(lines) + b"\n")
    db = folder / "store.duckdb"
    ingested = runner.invoke(app, ["ingest", str(source), "--db", str(db), "--progress"])
    _store_hostile_event(db)
    return db, folder, ingested


def test_ingest_names_the_bad_records_of_a_hostile_file_safely(
    hostile: tuple[Path, Path, Result],
) -> None:
    out = _safe(hostile[2])
    assert hostile[2].exit_code == 0, out
    assert "added: 3" in out and "malformed: 1" in out
    assert "[/x]\\x1b[2J\\x07\\u202e[bold red].jsonl:4" in out


def test_verdicts_lists_hostile_values_as_text(hostile: tuple[Path, Path, Result]) -> None:
    res = runner.invoke(app, ["verdicts", "--db", str(hostile[0])])
    out = _safe(res)
    assert res.exit_code == 0, out
    assert "[/X]" in out and "\\x1b[2J" in out  # stored upper-cased, shown as stored


@pytest.mark.parametrize("args", [["--stored"], []], ids=["stored", "detected"])
def test_events_lists_hostile_values_as_text(
    hostile: tuple[Path, Path, Result], args: list[str]
) -> None:
    res = runner.invoke(app, ["events", "--db", str(hostile[0]), *args])
    out = _safe(res)
    assert res.exit_code == 0, out


def test_report_messages_and_errors_show_hostile_values_as_text(
    hostile: tuple[Path, Path, Result],
) -> None:
    db, folder, _ = hostile
    res = runner.invoke(
        app, ["report", "--db", str(db), "--country", HOSTILE, "--domain", HOSTILE,
              "--out", str(folder / "x.html")],
    )  # fmt: skip
    out = _safe(res)
    assert res.exit_code == 2 and "error: no measurements of" in out, out
    written = folder / f"r{HOSTILE}.html"  # in a folder "r[" (made first: report makes none)
    written.parent.mkdir(exist_ok=True)
    _store_hostile_event(db)
    res = runner.invoke(
        app, ["report", "--db", str(db), "--event", f"ev-{HOSTILE}", "--out", str(written)]
    )
    assert res.exit_code == 0 and "wrote" in _safe(res), res.output
    res = runner.invoke(app, ["report", "--db", str(db), "--verify", str(written)])
    assert res.exit_code == 0 and "OK" in _safe(res), res.output
    res = runner.invoke(app, ["report", "--db", str(db), "--verify", str(folder / HOSTILE)])
    assert res.exit_code == 2 and "cannot read" in _safe(res)


def test_reanalyze_summarises_hostile_verdicts_safely(hostile: tuple[Path, Path, Result]) -> None:
    res = runner.invoke(app, ["reanalyze", "--db", str(hostile[0]), "--progress"])
    assert res.exit_code == 0, _safe(res)


def test_clean_shows_control_characters_and_markup_escapes_tags() -> None:
    assert clean("a\x1b[2Jb\x9bc\u202ed\ne") == "a\\x1b[2Jb\\x9bc\\u202ed\\x0ae"
    assert markup("[/x]") == "\\[/x]"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_machine_formats_stay_exact_in_a_pipe_and_are_escaped_on_a_terminal() -> None:
    pipe = io.StringIO()
    assert terminal_stream(pipe) is pipe
    tty = _Tty()
    terminal_stream(tty).write("a,\x1b[2J\tb\n")
    assert tty.getvalue() == "a,\\x1b[2J\tb\n"


def test_the_ingest_progress_bar_shows_a_hostile_file_name_as_text() -> None:
    with ByteProgress() as bar:
        bar.start(10)
        bar.next_file(f"in{HOSTILE}.jsonl", 10)
        screen = Console(file=io.StringIO(), width=200)
        assert bar._progress is not None  # the bar as drawn mid-file, not only at its end
        screen.print(bar._progress.get_renderable())
    drawn = screen.file.getvalue()
    assert "in[/x]\\x1b[2J" in drawn and "\x1b" not in drawn


def test_the_probe_verdict_table_shows_a_hostile_url_and_evidence_as_text() -> None:
    when = datetime(2024, 2, 12, tzinfo=UTC)
    v = Verdict("m", when, "PK", "AS1", f"http://x/{HOSTILE}", "x", "web_connectivity",
                "blocked", HOSTILE, 0.9, evidence=(HOSTILE,))  # fmt: skip
    screen = Console(file=io.StringIO(), width=200)
    screen.print(verdict_table([v]))
    drawn = screen.file.getvalue()
    assert "http://x/[/x]\\x1b[2J" in drawn and "\x1b" not in drawn
