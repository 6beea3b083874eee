"""The rule table is data, shown in docs/analysis.md; every verdict names a rule of it."""

from __future__ import annotations

import re
from pathlib import Path

from blockwatch.analysis import rules, tools, verdict
from blockwatch.analysis.records import METHODS
from blockwatch.analysis.rules import RULE_BY_ID, RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"
ROW = re.compile(r"^\| `([a-z0-9._]+)` \| (\w+) \| (?:`([a-z._]+)`|—) \| ([0-9.]+) \| (.+) \|$")


def test_the_docs_table_is_the_codes_rule_table() -> None:
    documented = [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]
    in_code = [(r.id, r.outcome, r.method, f"{r.confidence:g}", r.rationale) for r in RULES]
    assert documented == in_code


def test_rule_ids_are_unique_and_methods_are_the_vocabulary() -> None:
    assert len(RULE_BY_ID) == len(RULES)
    assert all(r.method is None or r.method in METHODS for r in RULES)
    assert all((r.outcome == "blocked") == (r.method is not None) for r in RULES)


def test_every_rule_of_the_table_is_used_by_the_verdict() -> None:
    source = Path(verdict.__file__).read_text() + Path(tools.__file__).read_text()
    named = set(re.findall(r"\bR\.([A-Z_]+)\b", source))
    used = {getattr(rules, n).id for n in named if not isinstance(getattr(rules, n), dict)}
    used |= {r.id for r in rules.FETCH_FAILED.values()}  # chosen by method, R.FETCH_FAILED[m]
    used |= {r.id for r in rules.TOOL_FAILED.values()}  # the same, R.TOOL_FAILED[m]
    assert used == set(RULE_BY_ID)


def test_the_throttle_rules_are_their_own_rows() -> None:
    throttled = {r.id for r in RULES if r.method == "throttled"}
    assert throttled == {"throttled.slow_body", "throttled.timeout", "throttled.timeout.no_trace"}
