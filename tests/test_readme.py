"""README must not drift from the CLI: every command is documented, and the two commands lead."""

from __future__ import annotations

from pathlib import Path

import typer

from blockwatch.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _command_paths(typer_app: typer.Typer, prefix: str = "") -> list[str]:
    paths = []
    for cmd in typer_app.registered_commands:
        name = cmd.name or cmd.callback.__name__.replace("_", "-")
        paths.append(f"{prefix}{name}")
    for group in typer_app.registered_groups:
        paths.extend(_command_paths(group.typer_instance, f"{prefix}{group.name} "))
    return paths


def test_readme_starts_with_make_demo_and_make_test() -> None:
    head = README[:600]
    assert "make demo" in head
    assert "make test" in head


def test_every_cli_command_is_documented_in_readme() -> None:
    missing = [p for p in _command_paths(app) if f"blockwatch {p}" not in README]
    assert not missing, f"commands missing from README: {missing}"
