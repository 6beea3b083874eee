"""`blockwatch events`: detect events from the stored verdicts, store and list them."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Event
from blockwatch.cli.errors import cli_errors
from blockwatch.cli.options import (
    AsnOption,
    CountryOption,
    DbOption,
    DomainOption,
    SinceOption,
    UntilOption,
    country_hint,
    existing_db,
    make_filter,
)
from blockwatch.store import Filter, Reads, Store
from blockwatch.store.export import write_events
from blockwatch.terminal import cell, markup, terminal_stream

__all__ = ["parse_bucket", "register", "render_events_table"]

KINDS = ("censorship", "outage")
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")


def parse_bucket(value: str | None) -> timedelta | None:
    """'6h', '1d', '30m' -> timedelta; None -> None (chosen from the data)."""
    if value is None:
        return None
    match = _DURATION.match(value.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter("use a duration like 30m, 6h or 1d", param_hint="--bucket")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _when(t: datetime | None) -> str:
    return "ongoing" if t is None else t.strftime("%Y-%m-%d %H:%M")


def _ordered(events: Sequence[Event]) -> list[tuple[Event, bool]]:
    """Country events each followed by their network events; the rest in start order."""
    by_parent: dict[str, list[Event]] = {}
    ids = {e.event_id for e in events}
    for e in events:
        if e.parent_event_id and e.parent_event_id in ids:
            by_parent.setdefault(e.parent_event_id, []).append(e)
    out: list[tuple[Event, bool]] = []
    for e in sorted(events, key=lambda e: (e.start, e.kind, e.domain or "", e.probe_asn or "")):
        if e.parent_event_id and e.parent_event_id in ids:
            continue
        out.append((e, False))
        out.extend((child, True) for child in by_parent.get(e.event_id, []))
    return out


# Below this width the table folds each event onto a few lines instead of ten columns: at
# 80 columns ten columns cut every cell.
WIDE: Final = 140


def _network(e: Event, child: bool) -> str:
    if child:
        return f"└ {e.probe_asn}"
    if e.probe_asn is None:
        return f"{len(e.networks)} networks" if e.networks else "all"
    return e.probe_asn


def render_events_table(
    events: Sequence[Event], title: str | None = None, width: int = WIDE
) -> Table:
    """Events as a rich table with their ids (what `report --event` takes): each country
    event with its networks indented beneath; folded onto a few lines per event when the
    terminal is narrower than WIDE, so no cell is cut."""
    wide = width >= WIDE
    table = Table(title=title or f"Events ({len(events)})", box=box.SIMPLE_HEAD, pad_edge=False)
    names: tuple[str, ...]
    if wide:
        names = ("event", "kind", "cc", "network", "domain", "start", "end", "methods",
                 "avail.", "conf.", "meas.")  # fmt: skip
    else:
        names = ("event", "what", "when", "avail.", "meas.")
    for col in names:
        table.add_column(
            col,
            justify="right" if col in ("avail.", "conf.", "meas.") else "left",
            no_wrap=col in ("event", "start", "end", "when", "avail.", "conf.", "meas."),
            overflow="fold",
        )
    for e, child in _ordered(events):
        style = "dim" if child else ("yellow" if e.kind == "outage" else None)
        domain = e.domain or "(whole network)"
        if wide:
            cells = [e.kind, e.probe_cc, _network(e, child), domain, _when(e.start),
                     _when(e.end), ", ".join(e.methods), f"{e.availability:.2f}",
                     f"{e.confidence:.2f}", str(len(e.measurements))]  # fmt: skip
            table.add_row(cell(e.event_id), *map(cell, cells), style=style)
            continue
        # Each line a cell() of its own: measured text is escaped, our line breaks are kept.
        what = [f"{e.kind} · {e.probe_cc} {_network(e, child)}", domain]
        what += [", ".join(e.methods)] if e.methods else []
        when = [_when(e.start), _when(e.end)]
        table.add_row(
            cell(e.event_id),
            Text("\n").join(map(cell, what)),
            Text("\n").join(map(cell, when)),
            f"{e.availability:.2f}",
            str(len(e.measurements)),
            style=style,
        )
    return table


def events(
    db: DbOption = None,
    country: CountryOption = None,
    asn: AsnOption = None,
    domain: DomainOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    kind: str | None = typer.Option(None, "--kind", help="censorship | outage"),
    fmt: str = typer.Option("table", "--format", help="table | jsonl"),
    bucket: str | None = typer.Option(
        None, "--bucket", help="Time bucket, e.g. 6h or 1d (default: from the data's density)."
    ),
    stored: bool = typer.Option(
        False, "--stored", help="List the events already in the store; do not recompute."
    ),
) -> None:
    """Detect events from the stored verdicts (censorship vs outage), store and list them.
    --since/--until keep the events that overlap that range."""
    if fmt not in ("table", "jsonl"):
        raise typer.BadParameter("must be table or jsonl", param_hint="--format")
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter("must be censorship or outage", param_hint="--kind")
    shown = make_filter(
        country=country, asn=asn, domain=domain, since=since, until=until, kind=kind
    )
    step = parse_bucket(bucket)
    with cli_errors():
        if stored:
            with Store(existing_db(db), read_only=True) as store:
                found = store.events(shown)
        else:
            # Detection needs every network and target of a country (outage rules compare
            # targets), so only --country narrows what is recomputed; the rest filters output.
            scope = Filter(country=shown.country)
            with Store(existing_db(db)) as store:
                detected = detect_events(store.verdicts(scope), bucket=step)
                store.replace_events(detected, scope)
                found = store.events(shown)
            order = {e.event_id: i for i, e in enumerate(detected)}
            found.sort(key=lambda e: order[e.event_id])  # as detected, as it always printed
    if fmt == "jsonl":
        write_events(found, "jsonl", terminal_stream(sys.stdout))
        return
    console = Console()
    console.print(render_events_table(found, width=console.width))
    hint = _empty_hint(db, shown, found)
    if hint:
        Console(stderr=True).print(f"hint: {markup(hint)}", highlight=False, soft_wrap=True)


def _empty_hint(db: Path | None, shown: Filter, found: Sequence[Event]) -> str | None:
    """Why an events list filtered by country came out empty, when the country is the cause."""
    if found or shown.country is None:
        return None
    with cli_errors(), Store(existing_db(db), read_only=True) as store:
        known = [row["probe_cc"] for row in Reads(store).countries(Filter())]
    return country_hint(shown.country, known)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("events")(events)
