"""What every command shares: the store option and the one filter vocabulary.

``--country --asn --domain --since --until`` mean the same on every command that filters (and
the same as the API's ``country, asn, domain, since, until``): see blockwatch.store.filters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from blockwatch.config import default_db_path
from blockwatch.errors import FilterError
from blockwatch.store.filters import Filter

__all__ = [
    "AsnOption",
    "CountryOption",
    "DbOption",
    "DomainOption",
    "SinceOption",
    "UntilOption",
    "db_path",
    "make_filter",
]

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Store file (default: BLOCKWATCH_DB or the user data directory)."),
]
CountryOption = Annotated[
    str | None, typer.Option("--country", help="Probe country code, e.g. PK.")
]
AsnOption = Annotated[str | None, typer.Option("--asn", help="Probe network, e.g. AS17557.")]
DomainOption = Annotated[str | None, typer.Option("--domain", help="Target host name, e.g. x.com.")]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="From this date or ISO time, inclusive (UTC)."),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Before this date or ISO time, exclusive (UTC)."),
]


def db_path(db: Path | None) -> Path:
    """The store a command works on: --db, else the default."""
    return db if db is not None else default_db_path()


def make_filter(**values: Any) -> Filter:
    """A Filter from option values (see Filter.parse); a bad one is a usage error naming it."""
    try:
        return Filter.parse(**values)
    except FilterError as exc:
        raise typer.BadParameter(exc.reason, param_hint=f"--{exc.name}") from exc
