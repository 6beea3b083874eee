"""One vocabulary: every command that filters takes the same five options, meaning the same."""

from __future__ import annotations

from typing import Any

import typer

from blockwatch.cli import app

FILTER = {"--country", "--asn", "--domain", "--since", "--until"}


def _commands() -> dict[str, Any]:
    """Every command as Typer builds it (groups flattened: "lab run", ...)."""
    out: dict[str, Any] = {}
    for name, cmd in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):
            out.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            out[name] = cmd
    return out


def _options(cmd: Any) -> set[str]:
    return {o for p in cmd.params for o in p.opts if o.startswith("--")}


def test_every_command_that_filters_takes_all_five_words() -> None:
    filtering = {n: _options(c) for n, c in _commands().items() if _options(c) & {"--since"}}
    assert set(filtering) == {"verdicts", "reanalyze", "events", "report", "fetch"}
    for name, options in filtering.items():
        assert options >= FILTER, f"{name} lacks {sorted(FILTER - options)}"


def test_no_command_speaks_another_word_for_the_same_thing() -> None:
    # Older spellings live on only as hidden options (report's --from/--to) or as a second
    # name of the new one (probe's --country, --cc).
    for name, cmd in _commands().items():
        shown = {p.opts[0] for p in cmd.params if p.opts and not getattr(p, "hidden", False)}
        assert not shown & {"--cc", "--from", "--to"}, name


def test_the_probe_names_its_country_like_every_other_command() -> None:
    probe = _commands()["probe"]
    assert {"--country", "--asn"} <= _options(probe)
