"""What every command shares: the store option and the one filter vocabulary.

``--country --asn --domain --since --until`` mean the same on every command that filters (and
the same as the API's ``country, asn, domain, since, until``): see blockwatch.store.filters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from blockwatch.config import default_db_path
from blockwatch.errors import BlockwatchError, FilterError, StoreError
from blockwatch.store.filters import Filter

__all__ = [
    "AsnOption",
    "CountryOption",
    "DbOption",
    "DomainOption",
    "SinceOption",
    "UntilOption",
    "country_hint",
    "db_path",
    "existing_db",
    "make_filter",
    "writable_out",
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


def existing_db(db: Path | None) -> Path:
    """The store a command reads or updates: it must exist (only `ingest` and the probes
    create one), so a mistyped --db is an error, not a new empty store."""
    path = db_path(db)
    if not path.exists():
        raise StoreError(f"no store at {path} (run `blockwatch ingest` first)")
    return path


def writable_out(out: Path) -> Path:
    """An output file whose folder exists: a typo in a path must not create folders."""
    parent = out.expanduser().parent
    if not parent.is_dir():
        raise BlockwatchError(f"cannot write {out}: no folder {parent} (create it first)")
    return out


def country_hint(country: str | None, known: list[str]) -> str | None:
    """Why a --country filter found nothing: not a two-letter code, or a country the store
    holds no measurement from (with the ones it does hold)."""
    if country is None:
        return None
    cc = country.strip().upper()
    if cc in known:
        return None
    listed = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "") or "none"
    if len(cc) != 2 or not cc.isalpha():
        return (
            f"--country takes a two-letter ISO 3166 code such as PK, not {country!r}"
            f" (countries in the store: {listed})"
        )
    return f"no measurements from country {cc} in the store (countries in it: {listed})"
