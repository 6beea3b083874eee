"""Re-analysis: stored raw measurements through the rules again, all verdicts replaced at once."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.analysis.verdict import analyze
from blockwatch.errors import StoreError
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.pipeline import ingest_paths, reanalysis, reanalyze
from blockwatch.store import Filter, Store
from storehelpers import Cli, distinct_copies, write_jsonl


def _verdicts(store: Store) -> dict[str, Any]:
    return {v.measurement_id: v for v in store.verdicts()}


@pytest.fixture
def filled(store: Store, qa_documents: list[dict[str, Any]], tmp_path: Path) -> Store:
    docs = list(distinct_copies(qa_documents, 120, tag="re"))
    ingest_paths(store, [write_jsonl(tmp_path / "re.jsonl", docs)])
    return store


def test_the_same_rules_change_nothing(filled: Store) -> None:
    before = _verdicts(filled)

    report = reanalyze(filled)

    assert (report.read, report.changed, report.unchanged, report.failed) == (120, 0, 120, 0)
    assert _verdicts(filled) == before


def test_stale_and_missing_verdicts_are_recomputed_and_the_changes_counted(
    filled: Store,
) -> None:
    before = _verdicts(filled)
    con = filled.cursor()
    # As if older rules had said otherwise, and one analysis had failed.
    blocked = [m for m, v in before.items() if v.outcome == "blocked"]
    assert blocked, "the QA data holds blocked measurements"
    stale, missing = blocked[:3], blocked[3]
    con.execute(
        "UPDATE verdicts SET outcome = 'ok', method = NULL WHERE measurement_id IN (?, ?, ?)",
        stale,
    )
    con.execute("DELETE FROM verdicts WHERE measurement_id = ?", [missing])

    report = reanalyze(filled)

    assert (report.changed, report.unchanged) == (4, 116)
    assert _verdicts(filled) == before
    assert sum(n for (was, _), n in report.transitions.items() if was == ("ok", None)) == 3
    assert sum(n for (was, _), n in report.transitions.items() if was is None) == 1


def test_a_fingerprint_table_given_later_confirms_stored_blockpages(
    filled: Store, tmp_path: Path
) -> None:
    # A page the default table does not know: a fingerprint for it, written as OONI does.
    target, body = _some_body(filled)
    table_path = tmp_path / "fp.csv"
    with open(table_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "scope", "location_found", "pattern_type", "pattern"])
        w.writerow(["test.late_fp", "isp", "body", "contains", body])
    table = FingerprintTable.load(table_path)

    report = reanalyze(filled, fingerprints=table_path)

    after = _verdicts(filled)
    assert report.changed >= 1
    assert after[target].fingerprint == "test.late_fp" and after[target].confirmed
    for mid, v in after.items():
        doc = filled.raw_measurement(mid)
        assert doc is not None
        assert v == analyze(parse_measurement(doc), table)


def _some_body(store: Store) -> tuple[str, str]:
    for v in store.verdicts():
        doc = store.raw_measurement(v.measurement_id) or {}
        for req in (doc.get("test_keys") or {}).get("requests") or []:
            body = ((req or {}).get("response") or {}).get("body")
            if isinstance(body, str) and len(body) > 200 and not v.confirmed:
                return v.measurement_id, body[100:160]
    pytest.skip("no stored measurement with an HTTP body")


def test_a_filter_reanalyses_only_what_it_selects(filled: Store) -> None:
    before = _verdicts(filled)
    con = filled.cursor()
    con.execute("UPDATE verdicts SET confidence = -1")
    cc = next(iter(before.values())).probe_cc

    report = reanalyze(filled, Filter(country=cc.lower()))

    same_cc = {m for m, v in before.items() if v.probe_cc == cc}
    assert report.read == report.changed == len(same_cc)
    after = _verdicts(filled)
    assert all((after[m].confidence == -1) != (m in same_cc) for m in after)
    with pytest.raises(StoreError):
        reanalyze(filled, Filter(outcome="blocked"))


def test_an_interrupted_reanalysis_changes_nothing(
    filled: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled.cursor().execute("UPDATE verdicts SET confidence = -1")
    before = _verdicts(filled)
    monkeypatch.setattr(reanalysis, "PAGE", 25)

    def stop(done: int, total: int) -> None:
        if done >= 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reanalyze(filled, on_page=stop)

    assert _verdicts(filled) == before
    assert reanalyze(filled).changed == 120  # and a second run is not hindered


def test_the_cli_says_what_changed(filled: Store, cli: Cli, db: Path) -> None:
    ids = [v.measurement_id for v in filled.verdicts() if v.outcome == "blocked"][:2]
    filled.cursor().execute(
        "UPDATE verdicts SET outcome = 'ok', method = NULL WHERE measurement_id IN (?, ?)", ids
    )
    filled.close()

    out = cli("reanalyze", "--db", db, "--no-progress")

    assert out.exit_code == 0, out.output
    assert "changed: 2" in out.output and "unchanged: 118" in out.output
    assert "ok" in out.output and "blocked" in out.output
    assert "blockwatch events" in out.output


def test_a_verdict_stays_with_its_stored_id_even_if_the_id_rule_changed(filled: Store) -> None:
    con = filled.cursor()
    mid = filled.verdicts()[0].measurement_id
    # As an older blockwatch might have named it (the rule for ids without report_id changed).
    for table in ("verdicts", "measurements"):
        con.execute(
            f"UPDATE {table} SET measurement_id = 'older-rule' WHERE measurement_id = ?", [mid]
        )

    report = reanalyze(filled)

    assert (report.changed, report.failed) == (0, 0)
    assert filled.count("verdicts") == 120
    assert "older-rule" in _verdicts(filled)


def test_a_damaged_block_fails_its_own_measurements_only(filled: Store) -> None:
    con = filled.cursor()
    (block, in_block), *_ = con.execute(
        "SELECT raw_block, count(*) FROM measurements GROUP BY raw_block ORDER BY raw_block"
    ).fetchall()
    con.execute("UPDATE raw_blocks SET data = ? WHERE block_id = ?", [b"\x04\x22\x4d\x18!", block])

    report = reanalyze(filled)

    assert (report.failed, report.unchanged) == (in_block, 120 - in_block)
    assert "raw JSON unreadable" in report.errors[0].reason


def test_a_read_only_store_is_refused_before_any_work(filled: Store, db: Path) -> None:
    filled.close()
    with Store(db, read_only=True) as ro, pytest.raises(StoreError, match="read-only"):
        reanalyze(ro)
