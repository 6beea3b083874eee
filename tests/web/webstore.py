"""A small real store for the web tests, filled through blockwatch.store.Store.

The store holds Pakistan's x.com block on two of three networks from 2024-02-17 to
2024-03-05 (one country-level event, two network events), an outage on the third network,
and one measurement whose blockpage body and evidence carry hostile HTML.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from blockwatch.analysis.records import Event, NetworkSpan, Verdict
from blockwatch.store import Store, schema
from blockwatch.store.rawcodec import BlockBuilder

START = datetime(2024, 2, 10, tzinfo=UTC)
DAYS = 30
BLOCK_START = datetime(2024, 2, 17, tzinfo=UTC)
BLOCK_END = datetime(2024, 3, 5, tzinfo=UTC)
OUTAGE = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 1, 18, tzinfo=UTC))
BLOCKING = {"AS17557": "tls.reset", "AS9541": "dns.nxdomain"}
NETWORKS = ("AS17557", "AS9541", "AS135407")
DOMAINS = ("x.com", "twitter.com", "example.org")
HOSTILE_ID = "m-hostile"
HOSTILE_BODY = '<script>window.__pwned = 1</script><h1 id="pwn">Blocked by order</h1>'
FORMULA = '=HYPERLINK("http://127.0.0.1/x","click")'
HOSTILE_EVIDENCE = '<img src=x onerror="window.__pwned=2">'


def _raw(
    mid: str, when: datetime, asn: str, url: str, blocking: str | None, body: str | None = None
) -> dict:
    host = url.split("/")[2]
    failure = "connection_reset" if blocking == "tcp_ip" else None
    return {
        "measurement_uid": mid,
        "report_id": f"r-{asn}",
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "software_name": "blockwatch",
        "software_version": "0.1.0",
        "probe_cc": "PK",
        "probe_asn": asn,
        "input": url,
        "measurement_start_time": when.strftime("%Y-%m-%d %H:%M:%S"),
        "test_keys": {
            "queries": [
                {
                    "hostname": host,
                    "query_type": "A",
                    "engine": "getaddrinfo",
                    "resolver_address": "",
                    "failure": None,
                    "answers": [{"answer_type": "A", "ipv4": "104.244.42.1"}],
                }
            ],
            "tcp_connect": [
                {
                    "ip": "104.244.42.1",
                    "port": 443,
                    "status": {"success": failure is None, "failure": failure},
                }
            ],
            "tls_handshakes": [
                {
                    "address": "104.244.42.1:443",
                    "server_name": host,
                    "failure": failure,
                    "tls_version": "TLSv1.3",
                }
            ],
            "requests": [
                {
                    "failure": None,
                    "request": {"url": url, "method": "GET"},
                    "response": {
                        "code": 200,
                        "headers": {"Server": "lab"},
                        "body": body or "<html><title>ok</title></html>",
                        "body_is_truncated": False,
                    },
                }
            ],
            "control": {"http_request": {"status_code": 200, "body_length": 1234}},
            "blocking": blocking if blocking else False,
            "accessible": blocking is None,
        },
    }


def fill_store(path: Path) -> None:
    block = BlockBuilder()
    measurements, verdicts = [], []
    for step in range(DAYS * 4):
        when = START + timedelta(hours=6 * step)
        for asn in NETWORKS:
            for dom in DOMAINS:
                mid = f"m-{asn}-{dom}-{step}"
                url = f"https://{dom}/"
                blocked = (
                    dom == "x.com"
                    and asn in BLOCKING
                    and BLOCK_START <= when < BLOCK_END
                    and step % 5 != 0  # one round in five gets through: availability 20%
                )
                down = asn == "AS135407" and OUTAGE[0] <= when < OUTAGE[1]
                outcome = "blocked" if blocked else "down" if down else "ok"
                method = BLOCKING[asn] if blocked else None
                ooni = "tcp_ip" if blocked else "false"
                raw = _raw(mid, when, asn, url, "tcp_ip" if blocked else None)
                measurements.append(_mrow(block, mid, when, asn, url, dom, raw))
                verdicts.append(
                    Verdict(
                        mid,
                        when,
                        "PK",
                        asn,
                        url,
                        dom,
                        "web_connectivity",
                        outcome,
                        method,
                        0.9 if blocked else 0.8,
                        False,
                        (f"{method} seen by the probe, control fine",) if blocked else (),
                        None,
                        ooni,
                        False,
                    )
                )
    hostile_at = START + timedelta(days=8, hours=3)
    raw = _raw(HOSTILE_ID, hostile_at, "AS17557", "http://x.com/", "http-diff", HOSTILE_BODY)
    measurements.append(
        _mrow(block, HOSTILE_ID, hostile_at, "AS17557", "http://x.com/", "x.com", raw)
    )
    verdicts.append(
        Verdict(
            HOSTILE_ID,
            hostile_at,
            "PK",
            "AS17557",
            "http://x.com/",
            "x.com",
            "web_connectivity",
            "blocked",
            "http.blockpage",
            1.0,
            True,
            (HOSTILE_EVIDENCE,),
            "lab-censor",
            "http-diff",
            False,
        )
    )
    # A measured name that a spreadsheet would take for a formula.
    verdicts.append(
        Verdict(
            "m-formula",
            START,
            "XF",
            "AS64999",
            FORMULA,
            FORMULA,
            "web_connectivity",
            "ok",
        )
    )
    with Store(path) as store:
        store.add_verdicts(verdicts[-1:])
        store.write_batch(
            measurements, [schema.record_to_row(v) for v in verdicts[:-1]], blocks=[block.finish()]
        )
        store.replace_events(_events(verdicts))


def _mrow(
    block: BlockBuilder, mid: str, when: datetime, asn: str, url: str, dom: str, raw: dict
) -> tuple:
    """A measurement row (Store.INGEST_MEASUREMENT_COLUMNS), its raw text added to block."""
    offset, length = block.add(orjson.dumps(raw))
    return (
        mid,
        raw["report_id"],
        "web_connectivity",
        url,
        dom,
        "PK",
        asn,
        when.replace(tzinfo=None),
        "fixture",
        0,
        offset,
        length,
    )  # block 0 of the batch


def _events(verdicts: list[Verdict]) -> list[Event]:
    events = []
    spans = []
    for asn, method in BLOCKING.items():
        ids = tuple(
            v.measurement_id
            for v in verdicts
            if v.probe_asn == asn
            and v.domain == "x.com"
            and BLOCK_START <= v.measured_at < BLOCK_END
        )
        events.append(
            Event(
                f"ev-x-{asn}",
                "censorship",
                "PK",
                asn,
                "x.com",
                BLOCK_START,
                BLOCK_END,
                (method,),
                0.2,
                0.95,
                ids,
                (),
                "ev-x-PK",
            )
        )
        spans.append(NetworkSpan(asn, BLOCK_START, BLOCK_END, 0.2))
    all_ids = tuple(i for e in events for i in e.measurements)
    events.append(
        Event(
            "ev-x-PK",
            "censorship",
            "PK",
            None,
            "x.com",
            BLOCK_START,
            BLOCK_END,
            tuple(BLOCKING.values()),
            0.2,
            0.95,
            all_ids,
            tuple(spans),
            None,
        )
    )
    out_ids = tuple(v.measurement_id for v in verdicts if v.outcome == "down")
    events.append(
        Event(
            "ev-outage-135407",
            "outage",
            "PK",
            "AS135407",
            None,
            OUTAGE[0],
            OUTAGE[1],
            (),
            0.0,
            0.9,
            out_ids,
            (),
            None,
        )
    )
    return events


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: Path, *options: str) -> Iterator[str]:
    """`blockwatch serve` (with these options) in its own process on 127.0.0.1; yields the
    base URL."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "blockwatch",
            "serve",
            "--db",
            str(db),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--read-only",  # the dashboard alone, as the tests open the store beside it
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(f"{base}/api/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"dashboard did not start: {out}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
