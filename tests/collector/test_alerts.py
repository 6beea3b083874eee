"""Alerts end to end: uploads through the collector, events updated live, a signed webhook
to a loopback receiver, and the Atom feed as feedparser reads it."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import feedparser
import httpx
import orjson
import pytest
from observatory import Server, free_port

from blockwatch.times import parse_iso

sys.path.insert(0, str(Path(__file__).parents[1] / "analysis"))
import wcsynth  # a sibling folder's builder of web_connectivity documents

START = datetime(2024, 2, 1, tzinfo=UTC)
BLOCK = range(12, 26)  # rounds in which the censor resets TLS to the blocked names
SITES = ["https://a.blocked.lab/", "https://b.blocked.lab/", "https://c.blocked.lab/"]
OPEN_SITES = [f"https://open{i}.lab/" for i in range(6)]


def _round(n: int) -> list[dict[str, Any]]:
    docs = []
    for url in [*SITES, *OPEN_SITES]:
        blocked = n in BLOCK and "blocked" in url
        doc = wcsynth.measurement(url, tls_failure="connection_reset" if blocked else None)
        when = START + timedelta(hours=6 * n)
        doc["measurement_start_time"] = when.strftime("%Y-%m-%d %H:%M:%S")
        doc.update(software_name="blockwatch", software_version="0.1.0")
        docs.append(doc)
    return docs


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((body, dict(self.headers)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    got: ClassVar[list[tuple[bytes, dict[str, str]]]] = []
    handler = type("Handler", (_Receiver,), {"got": got})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", got
    finally:
        httpd.shutdown()


def _upload(client: httpx.Client, docs: list[dict[str, Any]]) -> None:
    """A round's measurements, concurrently, as probes of one round would send them; then
    wait until the observatory has decided its events on them (the round's clock tick)."""

    def one(doc: dict[str, Any]) -> httpx.Response:
        return client.post("/measurement", json={"format": "json", "content": doc})

    with ThreadPoolExecutor(len(docs)) as pool:
        for answer in pool.map(one, docs):
            assert answer.status_code == 200, answer.text
    at = max(parse_iso(d["measurement_start_time"].replace(" ", "T") + "Z") for d in docs)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        as_of = client.get("/api/collector/status").json()["events_as_of"]
        if as_of is not None and parse_iso(as_of) >= at:
            return
        time.sleep(0.05)
    raise AssertionError(f"events not updated to {at} within 20 s")


def _wait_for(got: list[Any], n: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_block_alerts_once_when_it_starts_and_once_when_it_ends(
    db: Path, receiver: tuple[str, list[tuple[bytes, dict[str, str]]]]
) -> None:
    hook, got = receiver
    db.parent.mkdir(parents=True, exist_ok=True)
    server = Server(db, free_port()).start("--events-every", "0")
    try:
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "blockwatch",
                "alerts",
                "add",
                "--url",
                hook,
                "--db",
                str(db),
                "--country",
                "PK",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        secret = added.stdout.split("with it): ")[1].strip()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in range(0, 16):
                _upload(client, _round(n))
            _wait_for(got, 3)
            time.sleep(1)
            started = [orjson.loads(b) for b, _ in got]
            assert [a["change"] for a in started] == ["started"] * 3, [a["title"] for a in started]
            assert {a["event"]["domain"] for a in started} == {u.split("/")[2] for u in SITES}
            for alert in started:
                assert alert["label"] == "censorship" and alert["event"]["probe_cc"] == "PK"
                assert alert["event"]["methods"] == ["tls.reset"]
            for n in range(16, 40):
                _upload(client, _round(n))
            _wait_for(got, 6)
            time.sleep(1.5)  # a duplicate would come within a refresh or two
            feed = feedparser.parse(client.get("/feeds/events.atom?country=PK").content)
    finally:
        server.stop()
    changes = [orjson.loads(b)["change"] for b, _ in got]
    assert sorted(changes) == ["ended"] * 3 + ["started"] * 3, changes
    for body, headers in got:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Blockwatch-Signature"] == expected
    assert not feed.bozo, feed.bozo_exception
    assert feed.entries and feed.entries[0].link.startswith(server.url + "/event/")
    assert "Censorship" in feed.entries[0].title


def test_a_restarted_server_does_not_alert_again(
    db: Path, receiver: tuple[str, list[tuple[bytes, dict[str, str]]]]
) -> None:
    hook, got = receiver
    db.parent.mkdir(parents=True, exist_ok=True)
    server = Server(db, free_port()).start("--events-every", "0")
    subprocess.run(
        [sys.executable, "-m", "blockwatch", "alerts", "add", "--url", hook, "--db", str(db)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(0, 18):
            _upload(client, _round(n))
    _wait_for(got, 1)
    server.stop()
    before = len(got)
    assert before >= 1
    server = Server(db, free_port()).start("--events-every", "0")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            _upload(client, _round(18))  # the same ongoing block, one round on
        time.sleep(2)
    finally:
        server.stop()
    assert [orjson.loads(b)["change"] for b, _ in got[before:]] == []
