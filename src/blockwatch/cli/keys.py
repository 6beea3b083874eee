"""`blockwatch keys new`: the observatory's signing key pair for evidence reports."""

from __future__ import annotations

from pathlib import Path

import typer

from blockwatch.cli.errors import cli_errors
from blockwatch.signing import new_key_pair
from blockwatch.terminal import clean

__all__ = ["register"]

keys_app = typer.Typer(help="Signing keys for evidence reports (Ed25519).", no_args_is_help=True)


@keys_app.command("new")
def new(
    name: Path = typer.Argument(
        ..., help="Path and name of the pair: writes NAME.key (private) and NAME.pub."
    ),
) -> None:
    """Make an Ed25519 key pair: NAME.key (mode 0600, keep it private) and NAME.pub (publish
    it); never overwrites a key."""
    with cli_errors():
        pair = new_key_pair(name)
    typer.echo(f"private key {clean(pair.private)} (mode 0600: keep it secret)")
    typer.echo(f"public key  {clean(pair.public)} (publish it)")
    typer.echo(f"key id      {pair.key_id}")


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.add_typer(keys_app, name="keys")
