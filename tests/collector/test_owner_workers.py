"""A server that owns its store builds pages, API answers and reports in worker processes
that read through it (store.remote): what it acknowledged, they show at once."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from observatory import Server, free_port


@pytest.fixture
def server(db: Path) -> Iterator[Server]:
    db.parent.mkdir(parents=True, exist_ok=True)
    s = Server(db, free_port()).start("--page-workers", "2", "--report-workers", "1")
    try:
        yield s
    finally:
        s.stop()


def test_workers_show_what_the_owner_acknowledged(
    server: Server, qa_documents: list[dict[str, Any]]
) -> None:
    docs = [d for d in qa_documents if d.get("input")][:8]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        opened = client.post("/report", json={**_open(docs[0]), "probe_cc": "IT"})
        report_id = opened.json()["report_id"]
        seen = []
        for doc in docs:
            body = copy.deepcopy(doc)
            body.update(report_id=report_id, probe_cc="IT", probe_asn="AS30722")
            body.pop("measurement_uid", None)
            answer = client.post(f"/report/{report_id}", json={"format": "json", "content": body})
            assert answer.status_code == 200, answer.text
            uid = answer.json()["measurement_id"]
            # Built by a page worker, from the owner's rows, right after the acknowledgement.
            page = client.get(f"/measurement/{uid}")
            assert page.status_code == 200 and uid in page.text
            api = client.get(f"/api/measurements/{uid}").json()
            assert api["measurement_id"] == uid and api["verdict"]["probe_cc"] == "IT"
            seen.append(uid)
        country = client.get("/api/countries/IT").json()
        assert sum(d["n"] for d in country["domains"]) == len(seen)
        # A report, built by a report worker through the owner.
        domain = country["domains"][0]["domain"]
        rep = client.get(f"/report.html?country=IT&domain={domain}")
        assert rep.status_code == 200 and "sha256" in rep.text.lower()
        assert client.get(f"/report.html?country=IT&domain={domain}").content == rep.content


def _open(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("data_format_version", "probe_asn", "software_name", "software_version")
    out = {k: doc[k] for k in keys if k in doc}
    return {
        **out,
        "format": "json",
        "probe_asn": "AS30722",
        "test_name": doc["test_name"],
        "test_version": doc.get("test_version", "0.4.3"),
    }
