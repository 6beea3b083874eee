"""Tool verdicts make events like websites': "Tor blocked on AS17557 since ...", per tool."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from blockwatch.analysis.events import detect_events
from blockwatch.pipeline import ingest_paths
from blockwatch.store import Reads, Store
from blockwatch.store.filters import Filter
from blockwatch.times import ooni_time
from blockwatch.web import views

START = datetime(2024, 11, 1, tzinfo=UTC)
BLOCKED_FROM = START + timedelta(days=5)


def _doc(test: str, asn: str, at: datetime, input_: str, keys: dict[str, Any]) -> dict[str, Any]:
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    return {
        "test_name": test,
        "input": input_,
        "measurement_start_time": ooni_time(at),
        "probe_cc": "PK",
        "probe_asn": asn,
        "report_id": f"{stamp}_{test}_PK_{asn[2:]}_n1_{input_[-12:]}",
        "test_keys": keys,
    }


def _tor(addr: str, kind: str, failure: str | None) -> dict[str, Any]:
    ip, port = addr.rsplit(":", 1)
    status = {"success": failure is None, "failure": failure}
    target = {
        "target_address": addr,
        "target_protocol": kind,
        "failure": failure,
        "tcp_connect": [{"ip": ip, "port": int(port), "status": status}],
    }
    return {"targets": {addr: target}}


def _vpn(failure: str | None) -> dict[str, Any]:
    shake = {"endpoint": "openvpn://10.66.2.1:1194/udp", "transport": "udp", "failure": failure}
    return {"success": failure is None, "failure": failure, "openvpn_handshake": [shake]}


def test_tool_blocks_become_events_per_tool_and_network(tmp_path: Path) -> None:
    docs = []
    for i in range(40):  # every 6 hours for 10 days
        at = START + timedelta(hours=6 * i)
        blocked = at >= BLOCKED_FROM
        timeout = "generic_timeout_error" if blocked else None
        for addr in ("10.66.1.1:9001", "10.66.1.2:9001"):
            docs.append(_doc("tor", "AS17557", at, addr, _tor(addr, "or_port", timeout)))
        bridge = "10.66.1.9:443"
        docs.append(_doc("tor", "AS17557", at, bridge, _tor(bridge, "obfs4", None)))
        url = "openvpn://lab.corp/?address=10.66.2.1:1194&transport=udp"
        docs.append(_doc("openvpn", "AS9541", at, url, _vpn(timeout)))
        docs.append(_doc("openvpn", "AS17557", at, url, _vpn(None)))
    path = tmp_path / "tools.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    with Store(tmp_path / "s.duckdb") as store:
        assert ingest_paths(store, [path]).added == len(docs)
        verdicts = store.verdicts()
        detected = detect_events(verdicts)
        store.replace_events(detected)
        page = views.country(Reads(store), "PK", Filter())
    # The country page's row per tool and network: its state, and since when.
    tools = {(t["tool"], t["network"]): (t["state"], t["since"]) for t in page["tools"]}
    assert tools[("tor", "AS17557")][0] == "blocked"
    assert tools[("openvpn", "AS9541")][0] == "blocked"
    assert tools[("tor-obfs4", None)] == ("no block seen", None)
    events = [e for e in detected if e.kind == "censorship" and e.probe_asn]
    found = {(e.probe_asn, e.domain): e for e in events}
    assert set(found) == {("AS17557", "tor"), ("AS9541", "openvpn")}
    tor = found["AS17557", "tor"]
    assert abs(tor.start - BLOCKED_FROM) <= timedelta(days=1) and tor.end is None
    assert "tcp.timeout" in tor.methods
    assert "dpi.handshake" in found["AS9541", "openvpn"].methods
