"""The `blockwatch` command: a thin Typer shell over the library.

Each module here holds one group of commands and registers them; a command parses options,
builds one library object, calls it, and turns BlockwatchError into a one-line message and
exit status 2 (``cli.errors``).
"""

from __future__ import annotations

from typing import Any

import typer
import typer.core

from blockwatch import __version__
from blockwatch.cli import (
    alerts,
    annotate,
    control,
    events,
    fetch,
    keys,
    lab,
    probe,
    store,
    trace,
    watch,
    web,
)

__all__ = ["app", "main"]

_display_type = typer.core.TyperOption.display_type_rich


def _flag_without_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """A flag takes no value, so help shows no type for it (Typer prints `<bool>`)."""
    return None if self.is_flag else _display_type(self, ctx)


# Typer has no per-app setting for this; its help renderer asks each option for its type.
typer.core.TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]

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
    store,
    events,
    fetch,
    probe,
    trace,
    watch,
    control,
    lab,
    web,
    keys,
    alerts,
    annotate,
):
    _module.register(app)


def main() -> None:
    app()
