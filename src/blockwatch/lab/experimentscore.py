"""Precision and recall per experiment: websites (``web_connectivity``) and each tool series
(``tor``, ``tor-obfs4``, ``openvpn``, ``signal``, ``telegram``, ``whatsapp``), pure.

A truth row under a technique is a hit when the verdict is blocked with a method observing it
(as per technique); a blocked verdict on a row with no technique in force ("none", "outage")
is a false block of that experiment: an unaffected tool named blocked counts here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from blockwatch.analysis.records import TOOL_DOMAINS, Verdict
from blockwatch.analysis.verdict import detects
from blockwatch.lab.groundtruth import Truth

WEB = "web_connectivity"


class Rates:
    """Precision and recall from a score's ``tp``, ``fp`` and ``fn`` (1.0 when nothing was
    there to find or to claim)."""

    __slots__ = ()
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass(frozen=True, slots=True)
class ExperimentScore(Rates):
    experiment: str
    rows: int  # truth rows with a verdict
    blocked: int  # of them, under a technique
    tp: int
    fp: int
    fn: int


def experiment_of(domain: str) -> str:
    """The experiment a series belongs to: a tool's series, else the websites'."""
    return domain if domain in TOOL_DOMAINS else WEB


def row_key(v: Verdict) -> str:
    """A verdict's truth key: its input; an app's measurement has none, its name stands in."""
    return v.input or v.domain


def experiment_scores(verdicts: Sequence[Verdict], truth: Truth) -> list[ExperimentScore]:
    """One score per experiment with a truth row, websites first, then tools by name."""
    rows = {(r.probe_asn, r.input, truth.index(r.at)): r for r in truth.rows}
    count: dict[str, Counter[str]] = {}
    for v in verdicts:
        row = rows.get((v.probe_asn, row_key(v), truth.index(v.measured_at)))
        if row is None:
            continue
        c = count.setdefault(experiment_of(row.domain), Counter())
        c["rows"] += 1
        blocked = v.outcome == "blocked" and v.method is not None
        if row.truth not in ("none", "outage"):
            c["blocked"] += 1
            if blocked and detects(row.truth, v.method):
                c["tp"] += 1
                continue
            c["fn"] += 1
        if blocked:
            c["fp"] += 1
    order = sorted(count, key=lambda e: (e != WEB, e))
    return [
        ExperimentScore(
            e, count[e]["rows"], count[e]["blocked"], count[e]["tp"], count[e]["fp"], count[e]["fn"]
        )
        for e in order
    ]
