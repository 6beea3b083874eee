"""Re-analysis: the stored raw measurements run through the current rules (and a fingerprint
table the user gives) again, without re-reading the original files.

The verdicts are replaced in one transaction at the end, so readers (the dashboard) see the old
set or the new one, never a mix, and an interrupted run changes nothing. Until then the new
verdicts of changed measurements wait in a temporary table (DuckDB spills it to disk), and the
work goes a page at a time in the order the texts are stored, so each raw block is decompressed
about once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from blockwatch.analysis.verdict import analyze
from blockwatch.errors import MalformedMeasurement, StoreError
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.store import rawcodec, rawtexts, schema
from blockwatch.store.ingest import MAX_ERRORS_KEPT, resolve_fingerprints
from blockwatch.store.queries import VerdictFilter, verdict_where

if TYPE_CHECKING:
    from blockwatch.store.store import Store

PAGE: Final = 2_000
_TODO: Final = "_bw_reanalyze_todo"
_NEW: Final = "_bw_reanalyze_new"
_OUTCOME: Final = schema.VERDICT_FIELDS.index("outcome")
_METHOD: Final = schema.VERDICT_FIELDS.index("method")

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
    errors: list[MalformedMeasurement] = field(default_factory=list)

    def error(self, err: MalformedMeasurement) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(err)


def _todo_sql(where: str) -> str:
    # Measurement columns carry the names the verdict filter uses (probe_cc, probe_asn,
    # domain, measured_at), so the filter selects measurements, with a verdict or without.
    verdict_cols = ", ".join(f'v."{c}"' for c in schema.VERDICT_FIELDS)
    return (
        f"CREATE TEMP TABLE {_TODO} AS SELECT row_number() OVER (ORDER BY m.raw_block NULLS"
        " FIRST, m.raw_offset, m.measurement_id) AS n, m.measurement_id AS _id, m.source,"
        f" m.raw, m.raw_block, m.raw_offset, m.raw_length, {verdict_cols}"
        f" FROM (SELECT * FROM measurements{where}) m"
        " LEFT JOIN verdicts v ON v.measurement_id = m.measurement_id"
    )


def reanalyze(
    store: Store,
    flt: VerdictFilter | None = None,
    fingerprints: Any = None,
    on_page: Callable[[int, int], None] | None = None,
) -> ReanalyzeReport:
    """Recompute the verdicts of the stored measurements matching ``flt`` (its outcome and
    limit are refused: what a measurement's outcome is, is what this decides). ``on_page``
    gets (done, total) after each page."""
    from blockwatch.store.rows import verdict_arrow_insert

    if store.read_only:
        raise StoreError(f"{store.path} is open read-only: re-analysis writes verdicts")
    f = flt or VerdictFilter()
    if f.outcome is not None or f.limit is not None:
        raise StoreError("re-analysis selects measurements by country, network, domain and time")
    table = resolve_fingerprints(fingerprints)
    started = time.perf_counter()
    report = ReanalyzeReport()
    where, params = verdict_where(f)
    con = store.connect_read_only()
    try:
        con.execute(f"DROP TABLE IF EXISTS {_TODO}")
        con.execute(f"DROP TABLE IF EXISTS {_NEW}")
        con.execute(_todo_sql(where), params)
        con.execute(f"CREATE TEMP TABLE {_NEW} AS SELECT * FROM verdicts LIMIT 0")
        row = con.execute(f"SELECT count(*) FROM {_TODO}").fetchone()
        total = int(row[0]) if row else 0

        def fetch(sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
            return con.execute(sql, args).fetchall()

        for start in range(1, total + 1, PAGE):
            rows = fetch(
                f"SELECT * EXCLUDE (n) FROM {_TODO} WHERE n BETWEEN ? AND ? ORDER BY n",
                [start, start + PAGE - 1],
            )
            changed = _page(rows, fetch, table, report)
            if changed:
                verdict_arrow_insert(con, _NEW, changed)
            if on_page is not None:
                on_page(min(start + PAGE - 1, total), total)
        # On this cursor: temporary tables belong to the connection that made them.
        with store.transaction(con) as tx:
            tx.execute(
                f"DELETE FROM verdicts WHERE measurement_id IN (SELECT measurement_id FROM {_NEW})"
            )
            tx.execute(f"INSERT INTO verdicts SELECT * FROM {_NEW}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_TODO}")
        con.execute(f"DROP TABLE IF EXISTS {_NEW}")
        con.close()
    report.seconds = time.perf_counter() - started
    return report


def _page(
    rows: list[tuple[Any, ...]],
    fetch: rawtexts.Fetch,
    fingerprints: Any,
    report: ReanalyzeReport,
) -> list[tuple[Any, ...]]:
    """The new verdict rows of one page's measurements whose verdict changed."""
    texts, unreadable = _texts(fetch, rows)
    changed = []
    for r in rows:
        mid, source = r[0], r[1]
        old = tuple(r[6:]) if r[6] is not None else None  # r[6]: the verdict's measurement_id
        report.read += 1
        where = source or mid
        if mid in unreadable:
            report.error(MalformedMeasurement(where, None, unreadable[mid]))
            continue
        text = texts.get(mid)
        if text is None:
            report.no_text += 1
            continue
        try:
            m = parse_measurement(rawcodec.decode_text(text), where)
            # The stored id, not one recomputed from the text: the id rule for documents
            # without a report_id changed once, and the verdict must stay its measurement's.
            m.measurement_id = mid
            new = schema.record_to_row(analyze(m, fingerprints))
        except StoreError as exc:  # the stored text is not a JSON object
            report.error(MalformedMeasurement(where, None, str(exc)))
            continue
        except MalformedMeasurement as err:
            report.error(err)
            continue
        except Exception as exc:  # a rule bug: the old verdict stays
            report.error(MalformedMeasurement(where, None, f"analysis failed: {exc!r}"))
            continue
        if old is not None and _same(old, new):
            report.unchanged += 1
            continue
        report.changed += 1
        before = (old[_OUTCOME], old[_METHOD]) if old is not None else None
        after = (new[_OUTCOME], new[_METHOD])
        if before != after:  # else only confidence, evidence or the fingerprint moved
            report.transitions[(before, after)] += 1
        changed.append(new)
    return changed


def _texts(
    fetch: rawtexts.Fetch, rows: list[tuple[Any, ...]]
) -> tuple[dict[Any, bytes], dict[Any, str]]:
    """(texts by id, why by id for those that cannot be read). A damaged block costs its own
    measurements only: the page is read again one measurement at a time to find them."""
    keys = [(r[0], r[2], r[3], r[4], r[5]) for r in rows]
    try:
        return rawtexts.texts(fetch, keys), {}
    except StoreError:
        pass
    texts: dict[Any, bytes] = {}
    unreadable: dict[Any, str] = {}
    for key in keys:
        try:
            texts.update(rawtexts.texts(fetch, [key]))
        except StoreError as exc:
            unreadable[key[0]] = f"raw JSON unreadable: {exc}"
    return texts, unreadable


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    return all(
        (list(a or []) == list(b or [])) if isinstance(b, list) else a == b
        for a, b in zip(old, new, strict=True)
    )
