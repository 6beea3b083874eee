"""Scoring an observatory's alerts against the lab's truth (pure).

For every true block: a censorship alert naming its domain and network ("started", or a
"new networks" change) decided on data no later than two rounds after the second round in
which the block really bit. For every block that ends before the data does: an "ended" alert
(the event's, or "ended on <network>"). No censorship alert without a true block behind it,
and no alert twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blockwatch.lab.groundtruth import TrueBlock, Truth
from blockwatch.times import parse_iso

__all__ = ["AlertScore", "score_alerts"]


@dataclass
class AlertScore:
    blocks: int = 0
    on_time: int = 0
    late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    ends: int = 0
    ended: int = 0
    missing_ends: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    alerts: int = 0

    @property
    def ok(self) -> bool:
        return not (self.late or self.missing or self.missing_ends or self.false or self.duplicates)

    def __str__(self) -> str:
        lines = [
            f"alerts: {self.alerts}; blocks alerted in time {self.on_time}/{self.blocks}; "
            f"ends alerted {self.ended}/{self.ends}; false {len(self.false)}; "
            f"duplicates {len(self.duplicates)}"
        ]
        for name, items in (
            ("late", self.late),
            ("missing", self.missing),
            ("missing end", self.missing_ends),
            ("false", self.false),
            ("duplicate", self.duplicates),
        ):
            lines += [f"  {name}: {item}" for item in items]
        return "\n".join(lines)


def _networks(event: dict[str, Any]) -> set[str]:
    found = {str(n) for n in event.get("networks") or ()}
    return found | ({str(event["probe_asn"])} if event.get("probe_asn") else set())


def _covers(alert: dict[str, Any], b: TrueBlock) -> bool:
    e = alert["event"]
    return (
        e.get("kind") == "censorship"
        and e.get("domain") == b.domain
        and (b.probe_asn in _networks(e))
    )


def _bitten(truth: Truth, b: TrueBlock) -> list[int]:
    rounds = {
        truth.index(r.at)
        for r in truth.rows
        if r.network == b.network and r.domain == b.domain and r.truth in b.techniques
    }
    return sorted(i for i in rounds if b.first <= i <= b.last)


def _adds(alert: dict[str, Any], asn: str) -> bool:
    detail = str(alert.get("detail", ""))
    return detail.startswith("new networks") and asn in detail


def _name(b: TrueBlock) -> str:
    return f"{b.domain} on {b.probe_asn} (rounds {b.first}-{b.last}, {', '.join(b.techniques)})"


def _when(alert: dict[str, Any]) -> datetime:
    return parse_iso(str(alert.get("as_of")))


def _start_alerts(
    score: AlertScore, alerts: list[dict[str, Any]], truth: Truth, b: TrueBlock
) -> None:
    bitten = _bitten(truth, b)
    if not bitten:
        return
    score.blocks += 1
    deadline = truth.at(bitten[min(1, len(bitten) - 1)] + 2)
    starts = [
        a
        for a in alerts
        if _covers(a, b)
        and (a["change"] == "started" or _adds(a, b.probe_asn))
        and truth.at(b.first) <= _when(a) <= truth.at(b.last + 3)
    ]
    if not starts:
        score.missing.append(_name(b))
    elif min(_when(a) for a in starts) <= deadline:
        score.on_time += 1
    else:
        score.late.append(f"{_name(b)}: first alert as of {min(_when(a) for a in starts)}")


def _end_alerts(
    score: AlertScore, alerts: list[dict[str, Any]], truth: Truth, b: TrueBlock
) -> None:
    if b.last >= truth.rounds - 3:  # still on (or just off) at the end of the data
        return
    score.ends += 1
    ends = [
        a
        for a in alerts
        if _covers(a, b)
        and (a["change"] == "ended" or ("ended on" in a["detail"] and b.probe_asn in a["detail"]))
        and _when(a) >= truth.at(b.seen_last)
    ]
    if ends:
        score.ended += 1
    else:
        score.missing_ends.append(_name(b))


def score_alerts(alerts: list[dict[str, Any]], truth: Truth, blocks: list[TrueBlock]) -> AlertScore:
    """``alerts``: the payloads the observatory sent, in the order they arrived."""
    score = AlertScore(alerts=len(alerts))
    for b in blocks:
        _start_alerts(score, alerts, truth, b)
        _end_alerts(score, alerts, truth, b)
    for a in alerts:
        if a["event"].get("kind") != "censorship" or a["change"] != "started":
            continue
        e = a["event"]
        start = parse_iso(str(e["start"]))
        behind = [
            b
            for b in blocks
            if b.domain == e.get("domain")
            and b.probe_asn in _networks(e)
            and truth.at(b.first - 2) <= start <= truth.at(b.last + 2)
        ]
        if not behind:
            score.false.append(f"{a['title']} (as of {a.get('as_of')})")
    keys = Counter(
        (
            a["change"],
            a["event"].get("kind"),
            a["event"].get("domain"),
            a["event"].get("probe_cc"),
            a["event"].get("probe_asn"),
            a["detail"],
            a["event"].get("start"),
        )
        for a in alerts
    )
    score.duplicates = [f"{k[0]} {k[2]} {k[5]}" for k, n in keys.items() if n > 1]
    return score
