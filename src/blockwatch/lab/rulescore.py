"""Precision and recall of each verdict rule (analysis/rules.py) against a lab run's truth.

A rule is right when what it concludes is what the truth row says: a blocked rule when its
method observes the row's technique, an ``ok`` rule on an unblocked row, a ``down`` rule on an
outage row. Its recall is its share of the rows of that kind (the rules that name one
technique add up to the technique's recall). An inconclusive rule abstains: it is counted,
neither right nor wrong. Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from blockwatch.analysis.records import Verdict
from blockwatch.analysis.rules import RULE_BY_ID, Rule
from blockwatch.analysis.verdict import detects
from blockwatch.lab.groundtruth import Truth

UNKNOWN_RULE = "(no rule id)"


@dataclass(frozen=True, slots=True)
class RuleScore:
    rule_id: str
    outcome: str
    method: str | None
    fired: int  # verdicts this rule made (on rows with a truth)
    right: int
    relevant: int  # truth rows of the kind the rule concludes (0: an abstaining rule)

    @property
    def precision(self) -> float | None:
        if self.outcome == "inconclusive":
            return None
        return self.right / self.fired if self.fired else None

    @property
    def recall(self) -> float | None:
        return self.right / self.relevant if self.relevant else None


def _claims(rule: Rule, truth: str) -> bool:
    """Whether a truth row is of the kind this rule concludes."""
    if rule.outcome == "blocked":
        return truth not in ("none", "outage") and detects(truth, rule.method)
    return (rule.outcome, truth) in (("ok", "none"), ("down", "outage"))


def rule_scores(verdicts: Sequence[Verdict], truth: Truth) -> list[RuleScore]:
    """One score per rule that fired, in the rule table's order."""
    rows = {(r.probe_asn, r.input, truth.index(r.at)): r.truth for r in truth.rows}
    fired: Counter[str] = Counter()
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()  # truth of the rows the verdicts cover (an app's: its name)
    for v in verdicts:
        t = rows.get((v.probe_asn, v.input or v.domain, truth.index(v.measured_at)))
        if t is None:
            continue
        seen[t] += 1
        rule_id = v.rule_id or UNKNOWN_RULE
        fired[rule_id] += 1
        rule = RULE_BY_ID.get(rule_id)
        if rule is not None and _claims(rule, t):
            right[rule_id] += 1
    order = {r.id: i for i, r in enumerate(RULE_BY_ID.values())}
    out = []
    for rule_id in sorted(fired, key=lambda r: order.get(r, len(order))):
        rule = RULE_BY_ID.get(rule_id)
        if rule is None:
            out.append(RuleScore(rule_id, "?", None, fired[rule_id], 0, 0))
            continue
        relevant = (
            0
            if rule.outcome == "inconclusive"
            else sum(n for t, n in seen.items() if _claims(rule, t))
        )
        out.append(
            RuleScore(rule_id, rule.outcome, rule.method, fired[rule_id], right[rule_id], relevant)
        )
    return out
