"""`blockwatch events`: detect from the stored verdicts, store, filter, print table or jsonl."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from eventsynth import verdicts
from typer.testing import CliRunner

from blockwatch.analysis.records import EVENT_JSONL_FIELDS
from blockwatch.cli import app
from blockwatch.store import Store
from blockwatch.store.filters import Filter

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "bw.duckdb"
    vs = verdicts("." * 20 + "B" * 20 + "." * 10, asn="AS17557")
    vs += verdicts("." * 25 + "B" * 25, asn="AS9541", method="dns.nxdomain")
    vs += verdicts("." * 50, asn="AS9541", domain="wikipedia.org")
    with Store(path) as store:
        store.add_verdicts(vs)
    return path


def jsonl(output: str) -> list[dict]:
    return [orjson.loads(line) for line in output.splitlines() if line.strip()]


def test_jsonl_has_exactly_the_design_fields_and_the_events_are_stored(db: Path) -> None:
    result = runner.invoke(app, ["events", "--db", str(db), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = jsonl(result.output)
    assert rows and all(tuple(r) == EVENT_JSONL_FIELDS for r in rows)
    assert sorted(r["probe_asn"] or "country" for r in rows) == ["AS17557", "AS9541", "country"]
    with Store(db, read_only=True) as store:
        assert {e.event_id for e in store.events(Filter())} == {r["event_id"] for r in rows}


def test_rerunning_replaces_rather_than_adds(db: Path) -> None:
    first = jsonl(runner.invoke(app, ["events", "--db", str(db), "--format", "jsonl"]).output)
    again = jsonl(runner.invoke(app, ["events", "--db", str(db), "--format", "jsonl"]).output)
    assert first == again
    with Store(db, read_only=True) as store:
        assert len(store.events(Filter())) == len(first)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--asn", "9541"], {("AS9541", "x.com")}),
        (["--domain", "wikipedia.org"], set()),
        (["--kind", "outage"], set()),
        (["--since", "2024-03-01"], {("AS9541", "x.com"), (None, "x.com")}),  # still ongoing
        (["--country", "BR"], set()),
        # Events overlapping [since, until): the AS9541 block starts on 02-16 06:00.
        (["--until", "2024-02-16"], {("AS17557", "x.com"), (None, "x.com")}),
        (
            ["--since", "2024-02-21", "--until", "2024-02-22"],
            {("AS9541", "x.com"), (None, "x.com")},
        ),
    ],
)
def test_filters_narrow_the_output(db: Path, args: list[str], expected: set) -> None:
    result = runner.invoke(app, ["events", "--db", str(db), "--format", "jsonl", *args])
    assert result.exit_code == 0, result.output
    assert {(r["probe_asn"], r["domain"]) for r in jsonl(result.output)} == expected


def test_the_table_lists_the_country_event_with_its_networks_beneath(db: Path) -> None:
    result = runner.invoke(app, ["events", "--db", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2 networks" in result.output and "└ AS17557" in result.output


def test_stored_lists_without_recomputing(db: Path) -> None:
    result = runner.invoke(app, ["events", "--db", str(db), "--stored", "--format", "jsonl"])
    assert result.exit_code == 0 and jsonl(result.output) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--kind", "riot"],
        ["--format", "xml"],
        ["--bucket", "soon"],
        ["--since", "x"],
        ["--until", "2024-13-01"],
        ["--since", "2024-03-01", "--until", "2024-02-01"],
    ],
)
def test_bad_options_are_refused_with_a_message(db: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["events", "--db", str(db), *args])
    assert result.exit_code == 2


def test_a_missing_store_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["events", "--db", str(tmp_path / "no.duckdb"), "--stored"])
    assert result.exit_code == 2 and "no store" in result.output
