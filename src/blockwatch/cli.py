"""The `blockwatch` command: a thin Typer shell over the library.

Each stage owns its commands in ``blockwatch.<stage>.commands`` and registers them here;
commands parse options, call one library object, and turn BlockwatchError into a clean
message and exit code.
"""

from __future__ import annotations

import typer

from blockwatch import __version__
from blockwatch.analysis import commands as analysis_commands
from blockwatch.control import commands as control_commands
from blockwatch.lab import commands as lab_commands
from blockwatch.probe import commands as probe_commands
from blockwatch.store import commands as store_commands
from blockwatch.web import commands as web_commands

app = typer.Typer(
    name="blockwatch",
    help="An open censorship observatory: measure, classify, detect events, show evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"blockwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """blockwatch: is it blocked, since when, where, how?"""


for _module in (
    store_commands,
    analysis_commands,
    probe_commands,
    control_commands,
    lab_commands,
    web_commands,
):
    _module.register(app)


def main() -> None:
    app()
