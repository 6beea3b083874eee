"""`blockwatch ingest` and `blockwatch verdicts`: summaries, filters and the three formats."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.analysis.records import VERDICT_JSONL_FIELDS
from blockwatch.store import Store
from storehelpers import Cli


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, ooni_data: Path) -> Path:
    """One store for the read-only tests of this module (ingest takes a few seconds)."""
    db = tmp_path_factory.mktemp("cli") / "bw.duckdb"
    result = Cli()("ingest", ooni_data / "qa", ooni_data / "fastpath", "--db", db, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "added: " in result.output
    return db


def _jsonl(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines() if line.strip()]


def test_jsonl_has_exactly_the_contract_keys_and_z_times(cli: Any, ingested: Path) -> None:
    rows = _jsonl(cli("verdicts", "--db", ingested, "--format", "jsonl").stdout)
    with Store(ingested, read_only=True) as store:
        assert len(rows) == store.count("verdicts") > 50
    for row in rows:
        assert tuple(row) == VERDICT_JSONL_FIELDS
        assert row["measured_at"].endswith("Z")
        assert row["outcome"] in ("ok", "blocked", "down", "inconclusive")


def test_csv_has_a_header_and_one_row_per_verdict(cli: Any, ingested: Path) -> None:
    out = cli("verdicts", "--db", ingested, "--format", "csv", "--country", "IT").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert tuple(rows[0]) == VERDICT_JSONL_FIELDS
    assert len(rows) > 20
    assert {r[2] for r in rows[1:]} == {"IT"}
    assert {r[9] for r in rows[1:]} <= {"true", "false"}


def test_filters_on_the_command_line_narrow_the_output(cli: Any, ingested: Path) -> None:
    every = _jsonl(cli("verdicts", "--db", ingested, "--format", "jsonl").stdout)
    blocked = _jsonl(
        cli("verdicts", "--db", ingested, "--format", "jsonl", "--outcome", "blocked").stdout
    )
    assert 0 < len(blocked) < len(every)
    one = every[0]
    same = _jsonl(
        cli(
            "verdicts",
            "--db",
            ingested,
            "--format",
            "jsonl",
            "--country",
            one["probe_cc"],
            "--asn",
            one["probe_asn"],
            "--domain",
            one["domain"],
            "--since",
            one["measured_at"],
            "--until",
            "2100-01-01",
        ).stdout
    )
    assert one in same
    assert all(r["domain"] == one["domain"] for r in same)
    early = _jsonl(
        cli("verdicts", "--db", ingested, "--format", "jsonl", "--until", one["measured_at"]).stdout
    )
    assert one not in early


def test_table_output_lists_verdicts(cli: Any, ingested: Path) -> None:
    result = cli("verdicts", "--db", ingested, "--limit", "5")
    assert result.exit_code == 0
    assert "outcome" in result.stdout
    assert result.stdout.count("web_connectivity") == 0  # the table shows the domain, not test


@pytest.mark.parametrize("value", ["' OR 1=1 --", "x'); DROP TABLE verdicts; --", "%"])
def test_sql_metacharacters_on_the_command_line_give_empty_output(
    cli: Any, ingested: Path, value: str
) -> None:
    for option in ("--country", "--asn", "--domain"):
        result = cli("verdicts", "--db", ingested, "--format", "jsonl", option, value)
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
    with Store(ingested, read_only=True) as store:
        assert store.count("verdicts") > 0


def test_verdicts_on_a_missing_store_is_a_clean_error(cli: Any, tmp_path: Path) -> None:
    result = cli("verdicts", "--db", tmp_path / "none.duckdb")
    assert result.exit_code == 2
    assert "no store at" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "none.duckdb").exists()


def test_a_bad_date_or_format_is_a_usage_error(cli: Any, ingested: Path) -> None:
    assert cli("verdicts", "--db", ingested, "--since", "yesterday").exit_code == 2
    assert cli("verdicts", "--db", ingested, "--format", "xml").exit_code == 2


def test_a_second_ingest_reports_files_skipped_and_adds_nothing(
    cli: Any, db: Path, ooni_data: Path
) -> None:
    assert cli("ingest", ooni_data / "qa", "--db", db, "--no-progress").exit_code == 0
    result = cli("ingest", ooni_data / "qa", "--db", db, "--no-progress")
    assert result.exit_code == 0
    assert "added: 0" in result.output
    assert "(50 unchanged, skipped)" in result.output


def test_ingest_shows_a_progress_bar_in_bytes_unless_told_not_to(
    cli: Any, db: Path, ooni_data: Path
) -> None:
    shown = cli("ingest", ooni_data / "qa", "--db", db)
    assert "ingest done" in shown.output and "kB" in shown.output
    quiet = cli("ingest", ooni_data / "fastpath", "--db", db, "--no-progress")
    assert "ingest done" not in quiet.output
