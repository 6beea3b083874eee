"""`blockwatch annotate add/import/list`: dated public facts shown beside the measurements."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from blockwatch.analysis.annotations import load, make_annotation
from blockwatch.analysis.records import Annotation
from blockwatch.cli.errors import cli_errors
from blockwatch.cli.options import CountryOption, DbOption, db_path
from blockwatch.store import Store
from blockwatch.terminal import cell, clean

__all__ = ["register"]

annotate_app = typer.Typer(
    help="Annotations: dated public facts (an order, a hearing, an election) on timelines and"
    " in reports.",
    no_args_is_help=True,
)


@annotate_app.command("add")
def add(
    date: str = typer.Option(..., "--date", help="The date (YYYY-MM-DD) or ISO time, UTC."),
    title: str = typer.Option(..., "--title", help="One line saying what happened."),
    country: CountryOption = None,
    domain: list[str] = typer.Option(
        [], "--domain", help="A domain it concerns (repeatable; none: every domain)."
    ),
    end: str | None = typer.Option(None, "--end", help="The end of a period."),
    text: str | None = typer.Option(None, "--text", help="A longer description."),
    url: str | None = typer.Option(None, "--url", help="Where it is published (http/https)."),
    db: DbOption = None,
) -> None:
    """Add one annotation (the same date, country and title again replaces it)."""
    entry = {
        "date": date,
        "end": end,
        "country": country,
        "domains": domain,
        "title": title,
        "text": text,
        "url": url,
    }
    with cli_errors():
        item = make_annotation(entry, "--date/--title", "annotation", "cli")
        with Store(db_path(db)) as store:
            store.add_annotations([item])
    typer.echo(f"annotation {item.annotation_id}: {clean(item.title)}")


@annotate_app.command("import")
def import_(
    files: list[Path] = typer.Argument(
        ..., help="OONI findings (.json, e.g. incidents.json) or annotations (.toml)."
    ),
    db: DbOption = None,
) -> None:
    """Import annotations from files; importing again replaces, never duplicates."""
    with cli_errors():
        items: list[Annotation] = []
        for path in files:
            items += load(path)
        with Store(db_path(db)) as store:
            n = store.add_annotations(items)
    typer.echo(f"{n} annotations imported from {len(files)} file(s)")


@annotate_app.command("list")
def list_(
    country: CountryOption = None,
    domain: list[str] = typer.Option(
        [], "--domain", help="Only those of this domain (and those of every domain)."
    ),
    db: DbOption = None,
) -> None:
    """List annotations by date."""
    with cli_errors(), Store(db_path(db), read_only=True) as store:
        items = store.annotations(country, domain)
    table = Table(title=f"{len(items)} annotations")
    for col in ("date", "end", "country", "domains", "title", "source"):
        table.add_column(col)
    for a in items:
        table.add_row(
            f"{a.start:%Y-%m-%d}",
            f"{a.end:%Y-%m-%d}" if a.end else "",
            cell(a.probe_cc or "all"),
            cell(", ".join(a.domains) or "all"),
            cell(a.title),
            cell(a.source),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.add_typer(annotate_app, name="annotate")
