"""Turning our errors into a clean message and exit code, for every command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console

from blockwatch.errors import BlockwatchError
from blockwatch.terminal import markup

T = TypeVar("T")
stderr = Console(stderr=True)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print a BlockwatchError as one line on stderr and exit with status 2."""
    try:
        yield
    except BlockwatchError as exc:
        # The message names its culprit (a file, a stored value): hostile text, printed safe,
        # on one line however long (a path broken over lines cannot be copied).
        stderr.print(f"[bold red]error:[/] {markup(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt as exc:
        stderr.print("interrupted")
        raise typer.Exit(130) from exc


def run_cli(fn: Callable[[], T]) -> T:
    with cli_errors():
        return fn()
