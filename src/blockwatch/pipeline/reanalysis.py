"""Re-analysis: the stored raw measurements run through the current rules (and a fingerprint
table the user gives) again, without re-reading the original files.

The store hands out the measurements a page at a time and swaps the new verdicts in with one
transaction at the end (``blockwatch.store.rewrite``), so readers see the old set or the new
one, never a mix, and an interrupted run changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.analysis.verdict import analyze
from blockwatch.errors import MalformedMeasurement, StoreError
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.pipeline.ingest import MAX_ERRORS_KEPT, Fingerprints, resolve_fingerprints
from blockwatch.store import rawcodec, schema
from blockwatch.store.filters import Filter
from blockwatch.store.rewrite import StoredMeasurement, VerdictRewrite
from blockwatch.store.store import Store

__all__ = ["PAGE", "Change", "ReanalyzeReport", "reanalyze"]

PAGE: Final = 2_000
_OUTCOME: Final = schema.VERDICT_FIELDS.index("outcome")
_METHOD: Final = schema.VERDICT_FIELDS.index("method")
_RULE: Final = schema.VERDICT_FIELDS.index("rule_id")
# The rule of a verdict written before verdicts stored their rule (schema < 3).
UNKNOWN_RULE: Final = "(before rule ids)"

# (outcome, method) before -> after; None before: the measurement had no verdict.
Change = tuple[tuple[str, str | None] | None, tuple[str, str | None]]


@dataclass
class ReanalyzeReport:
    """What a re-analysis did. ``changed`` counts verdicts that differ in any field."""

    read: int = 0
    changed: int = 0  # of which ``transitions`` counts those whose outcome or method moved
    unchanged: int = 0
    failed: int = 0
    no_text: int = 0  # rows without a raw text (made by add_verdicts): left as they are
    seconds: float = 0.0
    transitions: Counter[Change] = field(default_factory=Counter)
    # (rule before, rule after) of the verdicts whose outcome or method moved; before is
    # None for a measurement that had no verdict, UNKNOWN_RULE for one made before rule ids.
    rule_changes: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    errors: list[MalformedMeasurement] = field(default_factory=list)

    def per_rule(self) -> list[tuple[str, int, int]]:
        """(rule, verdicts it now makes that another rule made, verdicts it no longer makes),
        the rules with most moves first."""
        gained: Counter[str] = Counter()
        lost: Counter[str] = Counter()
        for (before, after), n in self.rule_changes.items():
            gained[after] += n
            if before is not None:
                lost[before] += n
        rules = sorted(set(gained) | set(lost), key=lambda r: (-(gained[r] + lost[r]), r))
        return [(r, gained[r], lost[r]) for r in rules]

    def error(self, err: MalformedMeasurement) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(err)


def reanalyze(
    store: Store,
    flt: Filter | None = None,
    *,
    fingerprints: Fingerprints = None,
    on_page: Callable[[int, int], None] | None = None,
) -> ReanalyzeReport:
    """Recompute the verdicts of the stored measurements matching ``flt`` (by country,
    network, domain and time: what a measurement's outcome is, is what this decides).
    ``on_page`` gets (done, total) after each page."""
    started = time.perf_counter()
    report = ReanalyzeReport()
    table = resolve_fingerprints(fingerprints)  # a bad table fails before the scan
    with VerdictRewrite(store, flt) as rewrite:
        done = 0
        for page in rewrite.pages(PAGE):
            rewrite.add([row for m in page if (row := _reanalyze_one(m, table, report))])
            done += len(page)
            if on_page is not None:
                on_page(done, rewrite.total)
        rewrite.commit()
    report.seconds = time.perf_counter() - started
    return report


def _reanalyze_one(
    m: StoredMeasurement, table: FingerprintTable | None, report: ReanalyzeReport
) -> tuple[Any, ...] | None:
    """The new verdict row of one measurement, or None when it stays as it is."""
    report.read += 1
    where = m.source or m.measurement_id
    if m.unreadable is not None:
        report.error(MalformedMeasurement(where, None, m.unreadable))
        return None
    if m.text is None:
        report.no_text += 1
        return None
    try:
        parsed = parse_measurement(rawcodec.decode_text(m.text), where)
        # The stored id, not one recomputed from the text: the id rule for documents
        # without a report_id changed once, and the verdict must stay its measurement's.
        parsed.measurement_id = m.measurement_id
        new = schema.record_to_row(analyze(parsed, table))
    except StoreError as exc:  # the stored text is not a JSON object
        report.error(MalformedMeasurement(where, None, str(exc)))
        return None
    except MalformedMeasurement as err:
        report.error(err)
        return None
    except Exception as exc:  # a rule bug: the old verdict stays
        report.error(MalformedMeasurement(where, None, f"analysis failed: {exc!r}"))
        return None
    old = m.verdict
    if old is not None and _same(old, new):
        report.unchanged += 1
        return None
    report.changed += 1
    before = (old[_OUTCOME], old[_METHOD]) if old is not None else None
    after = (new[_OUTCOME], new[_METHOD])
    if before != after:  # else only confidence, evidence, the fingerprint or rule id moved
        report.transitions[(before, after)] += 1
        old_rule = None if old is None else (old[_RULE] or UNKNOWN_RULE)
        report.rule_changes[(old_rule, new[_RULE])] += 1
    return new


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    return all(
        (list(a or []) == list(b or [])) if isinstance(b, list) else a == b
        for a, b in zip(old, new, strict=True)
    )
