"""The lab's commands: thin, with clean errors (no namespaces needed for these)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from blockwatch.cli import app


def test_the_lab_commands_are_registered() -> None:
    result = CliRunner().invoke(app, ["lab", "--help"])
    assert result.exit_code == 0
    for command in ("run", "down", "score"):
        assert command in result.output


def test_a_wrong_scenario_is_refused_with_the_key_and_exit_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[scenario]\nname = "b"\ncountry = "PK"\nstart = 2024-01-01T00:00:00Z\n'
        'end = 2024-01-02T00:00:00Z\nround_every = "6h"\n'
        '[[network]]\nname = "A"\nasn = 1\n[[site]]\ndomain = "x.com"\n'
        '[[policy]]\nnetworks = ["A"]\nsites = ["x.com"]\ntechnique = "dns.injection"\n'
        "start = 2024-01-01T00:00:00Z\n"
    )
    result = CliRunner().invoke(app, ["lab", "run", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "policy[0].technique" in result.output
    assert not (tmp_path / "o").exists()  # refused before anything was built


def test_a_missing_scenario_file_is_a_clean_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = CliRunner().invoke(app, ["lab", "run", str(missing), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot read" in result.output
