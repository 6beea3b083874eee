"""`blockwatch lab run | down | score`: thin wrappers over blockwatch.lab."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer
from rich.console import Console

from blockwatch.cli.errors import cli_errors
from blockwatch.cli.options import DbOption, db_path
from blockwatch.errors import LabError
from blockwatch.lab import topology
from blockwatch.lab.run import run_scenario
from blockwatch.lab.score import score_run
from blockwatch.lab.scoreview import render_score
from blockwatch.terminal import clean, terminal_stream

__all__ = ["register"]

lab_app = typer.Typer(
    help="The censorship lab: a censored network in namespaces.", no_args_is_help=True
)


@lab_app.command("run")
def run(
    scenario: Path = typer.Argument(..., help="Scenario file (TOML, see docs/scenarios.md)."),
    out: Path = typer.Option(..., "--out", help="Folder for measurements.jsonl and truth.jsonl."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for sporadic blocks (overrides)."),
    db: DbOption = None,
    no_store: bool = typer.Option(False, "--no-store", help="Do not ingest into the store."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    observatory: bool = typer.Option(
        False,
        "--observatory",
        help="Probes upload to a collector serving the store; its alerts are scored.",
    ),
) -> None:
    """Run a scenario end to end: rounds on a virtual clock, measurements and ground truth."""
    with cli_errors():
        store = None if no_store else db_path(db)
        summary = run_scenario(
            scenario, out, seed=seed, db=store, progress=not quiet, observatory=observatory
        )
        typer.echo("\n".join(clean(line) for line in str(summary).splitlines()))
        if summary.alerts is not None and not summary.alerts.ok:
            raise typer.Exit(1)


@lab_app.command("down")
def down(
    force: bool = typer.Option(False, "--force", help="Also remove labs whose run is alive."),
) -> None:
    """Remove every namespace (and its links and processes) left by lab runs."""
    with cli_errors():
        if topology.skip_reason() is not None:
            raise LabError(topology.skip_reason() or "")
        removed = topology.down(force=force)
        typer.echo(f"removed {len(removed)} lab namespaces" + (": " if removed else ""))
        for name in removed:
            typer.echo(f"  {clean(name)}")


@lab_app.command("score")
def score(
    run_dir: Path = typer.Argument(..., help="Folder of a lab run (measurements, truth)."),
    format: str = typer.Option("table", "--format", help="table | json"),
) -> None:
    """Compare verdicts and events of a lab run with its ground truth."""
    with cli_errors():
        if format not in ("table", "json"):
            raise LabError(f"--format must be table or json, not {format!r}")
        report = score_run(run_dir)
        if format == "json":
            text = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()
            terminal_stream(sys.stdout).write(text + "\n")
        else:
            render_score(report, Console())


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.add_typer(lab_app, name="lab")
