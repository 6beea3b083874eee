"""The demo's path for names, services and context, without the namespaces: measurements as
the lab's probes write them (the scenario's network names in probe_network_name) go through
the real pipeline, events are detected, the scenario's annotations are imported the way
`make demo` does, and the home page's answer and the evidence report are built from that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from wcsynth import measurement

from blockwatch.analysis.events import detect_events
from blockwatch.analysis.services import ServiceTable
from blockwatch.cli.demo import SCENARIO_ANNOTATIONS, import_annotations
from blockwatch.pipeline import ingest_documents
from blockwatch.store import Reads, Store
from blockwatch.web import report
from blockwatch.web.answers import service_answers

START = datetime(2024, 2, 10, tzinfo=UTC)
BLOCK = datetime(2024, 2, 17, 12, tzinfo=UTC)
NETWORKS = {"AS17557": "PTCL", "AS9541": "Cybernet", "AS135407": "AS135407"}


def lab_documents() -> list[dict]:
    docs = []
    for step in range(4 * 28):  # four rounds a day for four weeks
        when = START + timedelta(hours=6 * step)
        for asn, name in NETWORKS.items():
            for url in ("https://x.com/", "https://dawn.com/"):
                blocked = "x.com" in url and when >= BLOCK and step % 5 != 0
                doc = measurement(url, tls_failure="connection_reset" if blocked else None)
                doc.update(
                    measurement_start_time=when.strftime("%Y-%m-%d %H:%M:%S"),
                    probe_asn=asn,
                    probe_network_name=name,
                    report_id=f"r-{asn}",
                )
                docs.append(doc)
    return docs


def test_the_demo_store_answers_x_in_pk_and_its_report_names_networks_and_context(
    tmp_path: Path,
) -> None:
    db = tmp_path / "demo.duckdb"
    with Store(db) as store:
        ingest_documents(store, lab_documents())
        store.replace_events(detect_events(store.verdicts()))
    import_annotations(db, SCENARIO_ANNOTATIONS)
    with Store(db, read_only=True) as store:
        r = Reads(store)
        answers = service_answers(r, ServiceTable.load(), "X in PK")["answers"]
        assert [a["sentence"] for a in answers] == [
            "X in PK: blocked on 3 of 3 networks (AS135407, Cybernet and PTCL) since 2024-02-17,"
            " intermittently."
        ]
        [event_id] = [
            e.event_id for e in r.censorship_events("PK") if e.domain == "x.com" and e.end is None
        ]
        html = report.build(r, event_id=event_id).html
    assert "AS17557 (PTCL)" in html and "AS9541 (Cybernet)" in html
    assert "Sindh High Court orders X restored" in html and "General elections" in html
