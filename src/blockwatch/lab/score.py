"""`blockwatch lab score DIR`: a lab run's verdicts and events against its ground truth.

Measurement level: per technique, precision and recall of the verdicts (a truth row with
technique T is a hit when the verdict is blocked with a method that observes T); blocked
verdicts on outage rows. Event level, for our detector and for OONI's CUSUM (h = 7, the
issue's EDD 20, and h = 3.5, production's EDD 10): per true block, detected or not, start and
end error in rounds, availability estimated vs true, detection delay (true start to the first
alarm); false censorship events, during outages or elsewhere. Pure but for reading DIR.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any

from blockwatch.analysis.cusum import CusumParams, cusum_events
from blockwatch.analysis.cusum import alarm_times as cusum_alarms
from blockwatch.analysis.events import DetectorParams, alarm_times, analyse
from blockwatch.analysis.records import Event, Verdict
from blockwatch.analysis.verdict import TECHNIQUE_OBSERVED_AS, analyze, detects
from blockwatch.errors import InputError, MalformedMeasurement
from blockwatch.lab.experimentscore import (
    ExperimentScore,
    Rates,
    experiment_scores,
    row_key,
)
from blockwatch.lab.groundtruth import TrueBlock, Truth, build_truth, read_truth, true_blocks
from blockwatch.lab.rulescore import RuleScore, rule_scores
from blockwatch.lab.scenario import TECHNIQUES, Scenario, load
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import iter_documents
from blockwatch.times import iso_z

OURS = "ours"
EXPERIMENT_BAR = 0.95  # per experiment (websites, each tool): precision and recall
CUSUM_H = {"cusum h=7": 7.0, "cusum h=3.5": 3.5}


@dataclass(frozen=True, slots=True)
class MethodScore(Rates):
    method: str
    tp: int
    fp: int
    fn: int


@dataclass(frozen=True, slots=True)
class Detection:
    """How one detector did on one true block (errors in rounds; + means late).

    Start and end errors are against the first and last rounds the block was enforced (a
    round that escaped a sporadic block cannot be seen by anyone); the window errors are
    against the policy's window, escaped edge rounds included."""

    detected: bool
    start_error: float | None = None
    end_error: float | None = None
    window_start_error: float | None = None
    window_end_error: float | None = None
    availability: float | None = None
    delay: float | None = None  # rounds from the true start to the first alarm; None: never
    fragments: int = 0  # events overlapping the block (1 is right)


@dataclass(frozen=True, slots=True)
class BlockScore:
    block: TrueBlock
    start: datetime
    end: datetime
    detections: dict[str, Detection]


@dataclass(frozen=True, slots=True)
class DetectorSummary:
    name: str
    detected: int
    blocks: int
    events: int
    false_events: int
    false_during_outage: int
    median_delay: float | None  # rounds; None when any block was never flagged (infinite)
    median_delay_detected: float | None
    worst_start_error: float | None
    worst_end_error: float | None
    worst_availability_error: float | None


@dataclass(slots=True)
class ScoreReport:
    run: str
    scenario: str | None
    round_hours: float
    rounds: int
    verdicts: int
    matched: int
    methods: list[MethodScore]
    blocked_during_outage: int
    blocks: list[BlockScore]
    summaries: list[DetectorSummary]
    outage_events: int = 0
    notes: list[str] = field(default_factory=list)
    rules: list[RuleScore] = field(default_factory=list)  # per verdict rule (rulescore)
    experiments: list[ExperimentScore] = field(default_factory=list)  # websites, each tool

    def failures(self) -> list[str]:
        """The issue's acceptance criteria this run misses (empty: all met)."""
        out = []
        for m in self.methods:
            if m.precision < 0.99 or m.recall < 0.98:
                out.append(f"{m.method}: precision {m.precision:.3f}, recall {m.recall:.3f}")
        for e in self.experiments:
            if e.precision < EXPERIMENT_BAR or e.recall < EXPERIMENT_BAR:
                out.append(f"{e.experiment}: precision {e.precision:.3f}, recall {e.recall:.3f}")
        if self.blocked_during_outage:
            out.append(f"{self.blocked_during_outage} blocked verdicts during outages")
        for b in self.blocks:
            d = b.detections[OURS]
            name = f"{b.block.network}/{b.block.domain} from {b.start:%Y-%m-%d %H:%M}"
            if not d.detected:
                out.append(f"{name}: not detected")
                continue
            if abs(d.start_error or 0) > 1 or abs(d.end_error or 0) > 1:
                out.append(f"{name}: start/end error {d.start_error}/{d.end_error} rounds")
            if abs((d.availability or 0) - b.block.availability) > 0.1:
                out.append(f"{name}: availability {d.availability} vs {b.block.availability}")
        ours = self.summary(OURS)
        if ours.false_during_outage:
            out.append(f"{ours.false_during_outage} censorship events during outages")
        cusum = self.summary("cusum h=7")
        if self.blocks and not _less(ours.median_delay, cusum.median_delay):
            out.append(f"median delay {ours.median_delay} not below CUSUM's {cusum.median_delay}")
        return out

    def summary(self, name: str) -> DetectorSummary:
        return next(s for s in self.summaries if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times ISO-8601, infinite delays as null)."""
        d = _plain(asdict(self))
        for m, raw in zip(d["methods"], self.methods, strict=True):
            m.update(precision=round(raw.precision, 4), recall=round(raw.recall, 4))
        for e, exp in zip(d["experiments"], self.experiments, strict=True):
            e.update(precision=round(exp.precision, 4), recall=round(exp.recall, 4))
        for r, rule in zip(d["rules"], self.rules, strict=True):
            r.update(
                precision=None if rule.precision is None else round(rule.precision, 4),
                recall=None if rule.recall is None else round(rule.recall, 4),
            )
        d["failures"] = self.failures()
        return d


def _less(a: float | None, b: float | None) -> bool:
    return (math.inf if a is None else a) < (math.inf if b is None else b)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return iso_z(value)
    return value


# --- inputs -----------------------------------------------------------------------------------


def read_verdicts(path: Path) -> tuple[list[Verdict], int]:
    """Verdicts of every measurement in a lab run's measurements.jsonl, and how many failed."""
    if not path.exists():
        raise InputError(str(path), "no measurements.jsonl in the run directory")
    out, bad = [], 0
    for item in iter_documents([path]):
        if isinstance(item, MalformedMeasurement):
            bad += 1
            continue
        try:
            out.append(analyze(parse_measurement(item.doc, item.source, item.line)))
        except MalformedMeasurement:
            bad += 1
    return out, bad


def find_scenario(run: Path) -> Scenario | None:
    for name in ("scenario.toml", *sorted(p.name for p in run.glob("*.toml"))):
        if (run / name).is_file():
            return load(run / name)
    return None


# --- measurement level ------------------------------------------------------------------------


def _technique_of(method: str) -> str:
    if method in TECHNIQUES:
        return method
    return next((t for t, seen in TECHNIQUE_OBSERVED_AS.items() if method in seen), method)


def method_scores(verdicts: Sequence[Verdict], truth: Truth) -> tuple[list[MethodScore], int, int]:
    """Per technique TP/FP/FN, blocked verdicts on outage rows, and verdicts with no truth."""
    rows = {(r.probe_asn, r.input, truth.index(r.at)): r.truth for r in truth.rows}
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    in_outage = unmatched = 0
    for v in verdicts:
        t = rows.get((v.probe_asn, row_key(v), truth.index(v.measured_at)))
        if t is None:
            unmatched += 1
            continue
        blocked = v.outcome == "blocked" and v.method is not None
        if t not in ("none", "outage"):
            if blocked and detects(t, v.method):
                tp[t] = tp.get(t, 0) + 1
                continue
            fn[t] = fn.get(t, 0) + 1
        if t == "outage" and v.outcome == "blocked":
            in_outage += 1
        if blocked and v.method is not None:
            m = _technique_of(v.method)
            fp[m] = fp.get(m, 0) + 1
    names = sorted(set(tp) | set(fp) | set(fn))
    scores = [MethodScore(n, tp.get(n, 0), fp.get(n, 0), fn.get(n, 0)) for n in names]
    return scores, in_outage, unmatched


# --- event level ------------------------------------------------------------------------------

SeriesAlarms = dict[tuple[str, str], list[datetime]]  # (probe_asn, domain) -> alarm times


def _overlaps(e: Event, a: datetime, b: datetime, last: datetime) -> bool:
    return e.start <= b and (e.end or last) >= a


def detect_block(
    block: TrueBlock, truth: Truth, events: Sequence[Event], alarms: SeriesAlarms
) -> Detection:
    """How a detector's events and alarms cover one true block."""
    step, last = truth.step, truth.at(truth.rounds - 1)
    start, end = truth.at(block.first), truth.at(block.last)
    mine = [e for e in events if e.probe_asn == block.probe_asn and e.domain == block.domain]
    near = [e for e in mine if _overlaps(e, start - step, end + step, last)]
    delay: float | None = None
    series_alarms = alarms.get((block.probe_asn, block.domain), [])
    first = next((t for t in series_alarms if start <= t <= end + step), None)
    if first is not None:
        delay = (first - start) / step
    elif any(_overlaps(e, start, start, last) and e.start <= start for e in mine):
        delay = 0.0  # already in alarm when the block began
    if not near:
        return Detection(False, delay=delay)

    def overlap(e: Event) -> float:
        return (min(e.end or last, end) - max(e.start, start)).total_seconds()

    best = max(near, key=overlap)
    best_end = best.end or last
    return Detection(
        True,
        start_error=round((best.start - truth.at(block.seen_first)) / step, 2),
        end_error=round((best_end - truth.at(block.seen_last)) / step, 2),
        window_start_error=round((best.start - start) / step, 2),
        window_end_error=round((best_end - end) / step, 2),
        availability=best.availability,
        delay=delay,
        fragments=len(near),
    )


def false_events(
    events: Sequence[Event], blocks: Sequence[TrueBlock], truth: Truth
) -> tuple[int, int]:
    """Censorship events matching no true block: (all of them, those during an outage)."""
    step, last = truth.step, truth.at(truth.rounds - 1)
    outage_at: dict[tuple[str, str], list[datetime]] = {}
    for r in truth.rows:
        if r.truth == "outage":
            outage_at.setdefault((r.probe_asn, r.domain), []).append(r.at)
    false = during = 0
    for e in events:
        key = (e.probe_asn or "", e.domain or "")
        if any(
            (b.probe_asn, b.domain) == key
            and _overlaps(e, truth.at(b.first) - step, truth.at(b.last) + step, last)
            for b in blocks
        ):
            continue
        false += 1
        if any(e.start - step <= t <= (e.end or last) + step for t in outage_at.get(key, [])):
            during += 1
    return false, during


def _summary(
    name: str, scores: list[BlockScore], events: Sequence[Event], fe: tuple[int, int]
) -> DetectorSummary:
    ds = [s.detections[name] for s in scores]
    found = [d for d in ds if d.detected]
    delays = [math.inf if d.delay is None else d.delay for d in ds]
    finite = [x for x in delays if x != math.inf]
    med = median(delays) if delays else None

    def worst(values: list[float]) -> float | None:
        return None if not values else round(max(values), 3)

    return DetectorSummary(
        name,
        len(found),
        len(ds),
        len(events),
        fe[0],
        fe[1],
        None if med is None or med == math.inf else med,
        median(finite) if finite else None,
        worst([abs(d.start_error or 0) for d in found]),
        worst([abs(d.end_error or 0) for d in found]),
        worst(
            [
                abs((d.availability or 0) - s.block.availability)
                for s, d in zip(scores, ds, strict=True)
                if d.detected
            ]
        ),
    )


def score_verdicts(
    verdicts: Sequence[Verdict],
    truth: Truth,
    scenario: Scenario | None,
    run: str = "-",
    params: DetectorParams | None = None,
) -> ScoreReport:
    """The whole score from verdicts and truth (pure: what score_run does after reading)."""
    p = params or DetectorParams()
    methods, in_outage, unmatched = method_scores(verdicts, truth)
    blocks = true_blocks(truth, scenario)
    analysis = analyse(verdicts, params=p)
    ours_alarms: SeriesAlarms = {}
    for (cc, asn, domain), cells in analysis.series.items():
        masked = analysis.masked((cc, asn, domain))
        net_p = analysis.params_for((cc, asn, domain))
        ours_alarms[(asn, domain)] = alarm_times(cells, analysis.grid, net_p, masked)
    ours = [e for e in analysis.events if e.kind == "censorship" and e.probe_asn]
    detectors: dict[str, tuple[list[Event], SeriesAlarms]] = {OURS: (ours, ours_alarms)}
    for name, h in CUSUM_H.items():
        cp = CusumParams(h=h)
        detectors[name] = (
            cusum_events(verdicts, params=cp),
            {(asn, d): t for (_cc, asn, d), t in cusum_alarms(verdicts, cp).items()},
        )
    scores = [
        BlockScore(
            b,
            truth.at(b.first),
            truth.at(b.last),
            {name: detect_block(b, truth, ev, al) for name, (ev, al) in detectors.items()},
        )
        for b in blocks
    ]
    summaries = [
        _summary(name, scores, ev, false_events(ev, blocks, truth))
        for name, (ev, _al) in detectors.items()
    ]
    notes = [f"{unmatched} verdicts matched no truth row"] if unmatched else []
    return ScoreReport(
        run=run,
        scenario=scenario.name if scenario else None,
        round_hours=truth.step.total_seconds() / 3600,
        rounds=truth.rounds,
        verdicts=len(verdicts),
        matched=len(verdicts) - unmatched,
        methods=methods,
        blocked_during_outage=in_outage,
        blocks=scores,
        summaries=summaries,
        outage_events=sum(1 for e in analysis.events if e.kind == "outage"),
        notes=notes,
        rules=rule_scores(verdicts, truth),
        experiments=experiment_scores(verdicts, truth),
    )


def score_run(
    run: Path, verdicts: Sequence[Verdict] | None = None, scenario: Path | None = None
) -> ScoreReport:
    """Score a lab run directory. The scenario (for policy windows) is ``scenario``, else a
    TOML file in the directory, else blocks come from the truth alone; ``verdicts`` skips
    analysing measurements.jsonl (tests)."""
    run = Path(run)
    model = load(scenario) if scenario is not None else find_scenario(run)
    truth = build_truth(read_truth(run / "truth.jsonl"), model)
    notes: list[str] = []
    if verdicts is None:
        verdicts, bad = read_verdicts(run / "measurements.jsonl")
        if bad:
            notes.append(f"{bad} measurements could not be read")
    report = score_verdicts(verdicts, truth, model, run=str(run))
    report.notes.extend(notes)
    return report
