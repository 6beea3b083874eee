"""`reanalyze` says which rules moved: the verdicts each rule now makes, and no longer makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from blockwatch.ooni.measurement import measurement_id
from blockwatch.pipeline import ingest_paths, reanalyze
from blockwatch.store import Store


def test_reanalysis_reports_the_changes_per_rule(
    qa_documents: list[dict[str, Any]], tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in qa_documents))
    ingest_paths(store, [path])
    bogon = next(d for d in qa_documents if d["test_keys"].get("queries") and any(
        a.get("ipv4") == "10.10.34.35"
        for q in d["test_keys"]["queries"] for a in q.get("answers") or []
    ))  # fmt: skip
    # The verdict the rules gave before fingerprints kept to their countries.
    store.cursor().execute(
        "UPDATE verdicts SET method = 'dns.blockpage_ip', confirmed = true,"
        " rule_id = 'dns.fingerprint' WHERE measurement_id = ?",
        [measurement_id(bogon)],
    )
    report = reanalyze(store)
    assert report.transitions == {(("blocked", "dns.blockpage_ip"), ("blocked", "dns.bogon")): 1}
    assert report.rule_changes == {("dns.fingerprint", "dns.bogon"): 1}
    assert report.per_rule() == [("dns.bogon", 1, 0), ("dns.fingerprint", 0, 1)]
    [v] = [v for v in store.verdicts() if v.measurement_id == measurement_id(bogon)]
    assert (v.rule_id, v.confirmed) == ("dns.bogon", False)
