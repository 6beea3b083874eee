"""The collector over real HTTP: a `blockwatch serve` subprocess that owns a real store."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from observatory import Server, free_port

from blockwatch.store import Store

OPEN = {
    "data_format_version": "0.2.0",
    "format": "json",
    "probe_asn": "AS30722",
    "probe_cc": "IT",
    "software_name": "ooniprobe-cli",
    "software_version": "3.20.0",
    "test_name": "web_connectivity",
    "test_version": "0.4.3",
}


@pytest.fixture
def server(db: Path) -> Iterator[Server]:
    db.parent.mkdir(parents=True, exist_ok=True)
    s = Server(db, free_port()).start()
    try:
        yield s
    finally:
        s.stop()


def _open(client: httpx.Client) -> str:
    answer = client.post("/report", json=OPEN)
    assert answer.status_code == 200, answer.text
    assert answer.json()["supported_formats"] == ["json"]
    return str(answer.json()["report_id"])


def _content(doc: dict[str, Any], report_id: str) -> dict[str, Any]:
    body = copy.deepcopy(doc)
    body.update(report_id=report_id, probe_cc="IT", probe_asn="AS30722")
    body.pop("measurement_uid", None)
    return body


def test_measurements_are_acknowledged_after_commit_and_resubmitting_is_idempotent(
    server: Server, qa_documents: list[dict[str, Any]]
) -> None:
    docs = qa_documents[:20]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        report_id = _open(client)
        uids = []
        for doc in docs:
            answer = client.post(
                f"/report/{report_id}", json={"format": "json", "content": _content(doc, report_id)}
            )
            assert answer.status_code == 200, answer.text
            uids.append(answer.json()["measurement_id"])
            # Acknowledged means committed: the owner's API serves it at once.
            assert client.get(f"/api/measurements/{uids[-1]}").status_code == 200
        again = client.post(
            f"/report/{report_id}", json={"format": "json", "content": _content(docs[0], report_id)}
        )
        assert again.json()["measurement_id"] == uids[0]
        # A new report for the same measurement (bk-003 §3.2's reopen): still the same uid.
        other = _open(client)
        moved = client.post(
            f"/report/{other}", json={"format": "json", "content": _content(docs[1], other)}
        )
        assert moved.json()["measurement_id"] == uids[1]
        assert client.post(f"/report/{report_id}/close").json() == {"status": "success"}
        closed = client.post(
            f"/report/{report_id}", json={"format": "json", "content": _content(docs[2], report_id)}
        )
        assert closed.status_code == 404
        answer = client.get("/api/collector/status")
        # Never kept by the dashboard's answer cache: its counters move without the store
        # file changing (a stale copy once hid that events were up to date).
        assert answer.headers["cache-control"] == "no-store"
        status = answer.json()
    assert len(set(uids)) == len(uids)
    assert status["accepted"] == len(docs)
    server.stop()
    with Store(server.db, read_only=True) as store:
        assert store.count("measurements") == len(docs)
        assert store.count("verdicts") == len(docs)


def test_bad_submissions_get_a_clear_4xx_and_affect_no_other(
    server: Server, qa_documents: list[dict[str, Any]]
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        report_id = _open(client)
        good = _content(qa_documents[0], report_id)
        cases: list[tuple[dict[str, Any] | bytes, dict[str, str], int]] = [
            (b"{not json", {}, 400),
            ({"format": "yaml", "content": good}, {}, 400),
            ({"format": "json", "content": "a string"}, {}, 400),
            ({"format": "json", "content": {**good, "report_id": "other"}}, {}, 400),
            ({"format": "json", "content": {**good, "test_name": "tor"}}, {}, 400),
            ({"format": "json", "content": {**good, "measurement_start_time": 7}}, {}, 400),
            (orjson.dumps({"format": "json", "content": good}), {"Content-Encoding": "gzip"}, 415),
            (b"x" * (9 * 1024 * 1024), {}, 413),
        ]
        for body, headers, status in cases:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            answer = client.post(f"/report/{report_id}", content=data, headers=headers)
            assert answer.status_code == status, (status, answer.text)
            assert "error" in answer.json()
        bad_open = client.post("/report", json={**OPEN, "probe_cc": "Pakistan"})
        assert bad_open.status_code == 400 and "probe_cc" in bad_open.json()["error"]
        assert (
            client.post("/report/nope", json={"format": "json", "content": good}).status_code == 404
        )
        ok = client.post(f"/report/{report_id}", json={"format": "json", "content": good})
        assert ok.status_code == 200
    server.stop()
    with Store(server.db, read_only=True) as store:
        assert store.count("measurements") == 1


def test_a_client_over_its_rate_gets_429(db: Path, qa_documents: list[dict[str, Any]]) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    s = Server(db, free_port()).start("--rate", "2")
    try:
        with httpx.Client(base_url=s.url, timeout=30) as client:
            codes = [client.post("/report", json=OPEN).status_code for _ in range(12)]
        assert 429 in codes and codes[0] == 200
    finally:
        s.stop()


def test_other_commands_on_an_owned_store_say_so_in_one_line(server: Server) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "blockwatch", "verdicts", "--db", str(server.db)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "400"},  # rich wraps at the terminal's width
    )
    assert done.returncode != 0
    message = done.stderr.strip()
    assert message.count("\n") == 0, message
    assert "served by `blockwatch serve`" in message and server.url in message


def test_a_killed_server_keeps_every_acknowledged_measurement(
    db: Path, qa_documents: list[dict[str, Any]]
) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    s = Server(db, free_port()).start()
    acked: list[str] = []
    with httpx.Client(base_url=s.url, timeout=30) as client:
        report_id = _open(client)
        for doc in qa_documents[:30]:
            answer = client.post(
                f"/report/{report_id}", json={"format": "json", "content": _content(doc, report_id)}
            )
            acked.append(answer.json()["measurement_id"])
    s.stop(signal.SIGKILL)
    restarted = Server(db, free_port()).start()  # the stale owner file must not stop it
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            for uid in acked:
                assert client.get(f"/api/measurements/{uid}").status_code == 200
            # The report survived the restart too (kept in the store).
            answer = client.post(
                f"/report/{report_id}",
                json={"format": "json", "content": _content(qa_documents[40], report_id)},
            )
            assert answer.status_code == 200
    finally:
        restarted.stop()
