"""The score of a lab run as tables for a terminal (what `blockwatch lab score` prints)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from blockwatch.lab.score import CUSUM_H, EXPERIMENT_BAR, OURS, Detection, ScoreReport
from blockwatch.terminal import cell, clean, markup


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:+.{digits}f}" if digits else f"{x:g}"


def _delay(d: Detection) -> str:
    return "never" if d.delay is None else f"{d.delay:g}"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _render_rules(report: ScoreReport, console: Console) -> None:
    rules = Table(title="Measurement level, per verdict rule (docs/analysis.md)")
    for col in ("rule", "verdict", "fired", "right", "precision", "recall"):
        text = col in ("rule", "verdict")
        rules.add_column(col, justify="left" if text else "right", no_wrap=text)
    for r in report.rules:
        rules.add_row(
            r.rule_id, r.method or r.outcome, str(r.fired), str(r.right),
            _ratio(r.precision), _ratio(r.recall),
        )  # fmt: skip
    console.print(rules)


def _render_experiments(report: ScoreReport, console: Console) -> None:
    table = Table(title="Measurement level, per experiment (websites, each tool)")
    for col in ("experiment", "rows", "blocked", "TP", "FP", "FN", "precision", "recall"):
        table.add_column(col, justify="left" if col == "experiment" else "right")
    for e in report.experiments:
        ok = e.precision >= EXPERIMENT_BAR and e.recall >= EXPERIMENT_BAR
        table.add_row(
            cell(e.experiment), str(e.rows), str(e.blocked), str(e.tp), str(e.fp), str(e.fn),
            f"{e.precision:.3f}", f"{e.recall:.3f}", style=None if ok else "red",
        )  # fmt: skip
    console.print(table)


def render_score(report: ScoreReport, console: Console) -> None:
    console.print(
        f"run {markup(report.run)}  scenario {markup(report.scenario or '(none in DIR)')}  "
        f"{report.rounds} rounds of {report.round_hours:g} h  "
        f"{report.verdicts} verdicts ({report.matched} matched to truth)",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {markup(note)}", highlight=False)

    methods = Table(title="Measurement level, per technique")
    for col in ("technique", "TP", "FP", "FN", "precision", "recall"):
        methods.add_column(col, justify="left" if col == "technique" else "right")
    for m in report.methods:
        ok = m.precision >= 0.99 and m.recall >= 0.98
        methods.add_row(
            cell(m.method), str(m.tp), str(m.fp), str(m.fn),
            f"{m.precision:.3f}", f"{m.recall:.3f}",
            style=None if ok else "red",
        )  # fmt: skip
    console.print(methods)
    _render_experiments(report, console)
    console.print(f"blocked verdicts on outage rows: {report.blocked_during_outage}")
    _render_rules(report, console)

    blocks = Table(title="True blocks: ours vs CUSUM (errors and delay in rounds, + = late)")
    for col in ("network", "domain", "technique", "true span", "true avail.", "ours: start",
                "end", "avail.", "delay", *[f"{n}: start" for n in CUSUM_H],
                *[f"{n}: delay" for n in CUSUM_H]):  # fmt: skip
        blocks.add_column(col)
    for b in report.blocks:
        d = b.detections[OURS]
        row: list[Text | str] = [
            cell(b.block.network),
            cell(b.block.domain),
            cell(",".join(b.block.techniques)),
            f"{b.start:%m-%d %H:%M}→{b.end:%m-%d %H:%M}",
            f"{b.block.availability:.2f}",
            _num(d.start_error) if d.detected else "missed",
            _num(d.end_error) if d.detected else "",
            f"{d.availability:.2f}" if d.availability is not None else "",
            _delay(d),
        ]
        row += [
            _num(b.detections[n].start_error) if b.detections[n].detected else "missed"
            for n in CUSUM_H
        ]
        row += [_delay(b.detections[n]) for n in CUSUM_H]
        blocks.add_row(*row)
    console.print(blocks)

    summary = Table(title="Detectors")
    columns = (
        "detector", "blocks found", "events", "false events", "…during outages",
        "median delay", "…of found", "worst |start|", "worst |end|", "worst avail.",
    )  # fmt: skip
    for col in columns:
        summary.add_column(col, justify="left" if col == "detector" else "right")
    for s in report.summaries:
        summary.add_row(
            cell(s.name),
            f"{s.detected}/{s.blocks}",
            str(s.events),
            str(s.false_events),
            str(s.false_during_outage),
            "never" if s.median_delay is None and s.blocks else _num(s.median_delay, 0),
            _num(s.median_delay_detected, 0),
            _num(s.worst_start_error, 0),
            _num(s.worst_end_error, 0),
            "-" if s.worst_availability_error is None else f"{s.worst_availability_error:.2f}",
        )
    console.print(summary)
    console.print(f"outage events found by ours: {report.outage_events}")
    failures = report.failures()
    if failures:
        console.print("[bold red]acceptance: not met[/]")
        for f in failures:
            console.print(f"  - {clean(f)}", highlight=False, markup=False)
    else:
        console.print("[bold green]acceptance: all criteria met[/]")
