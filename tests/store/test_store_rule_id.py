"""verdicts.rule_id (schema 3): stores of schema 2 stay readable, and are upgraded in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson

from blockwatch.pipeline import ingest_paths, reanalyze
from blockwatch.store import Store, schema
from blockwatch.store.reads import Reads


def _schema_2_store(db: Path, docs: list[dict[str, Any]], tmp_path: Path) -> None:
    """A store as blockwatch wrote it before rule ids: no verdicts.rule_id, version 2."""
    path = tmp_path / "qa.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    with Store(db) as store:
        ingest_paths(store, [path])
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE verdicts DROP COLUMN rule_id")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()


def test_a_schema_2_store_reads_rule_id_as_null_then_upgrades_and_reanalysis_fills_it(
    qa_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    db = tmp_path / "v2.duckdb"
    docs = qa_documents[:5]
    _schema_2_store(db, docs, tmp_path)
    with Store(db, read_only=True) as ro:  # read as it is: no upgrade, no error
        verdicts = ro.verdicts()
        assert len(verdicts) == 5 and {v.rule_id for v in verdicts} == {None}
        one = Reads(ro).verdict(verdicts[0].measurement_id)
        assert one is not None and one["rule_id"] is None
    with Store(db) as store:  # a writable open adds the column
        version = (
            store.cursor().execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        )
        assert version == (str(schema.SCHEMA_VERSION),)
        assert {v.rule_id for v in store.verdicts()} == {None}
        report = reanalyze(store)
        assert report.changed == 5  # only the rule id moved
        assert not report.rule_changes and not report.transitions  # no outcome or method moved
        assert None not in {v.rule_id for v in store.verdicts()}


def test_new_verdicts_store_their_rule_id(
    qa_documents: list[dict[str, Any]], tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in qa_documents))
    ingest_paths(store, [path])
    ids = {v.rule_id for v in store.verdicts()}
    assert None not in ids and {"page.match", "dns.nxdomain", "dns.bogon"} <= ids
