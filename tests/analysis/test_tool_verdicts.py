"""Verdicts of the tool tests (tor, vanilla_tor, openvpn, signal, telegram, whatsapp)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blockwatch.analysis.verdict import analyze_document

# OONI's own measurements, and the verdict their raw data supports (issue 15).
OONI_CASES = [
    ("signal_022.json", "signal", {"ok"}, None),
    ("telegram_nourl.json", "telegram", {"ok"}, None),
    ("openvpn.json", "openvpn", {"ok"}, None),
    ("vanilla_tor_ok.json", "tor", {"ok"}, None),
    ("signal_2627.json", "signal", {"blocked"}, "tls.mitm"),
    ("vanilla_tor.json", "tor", {"blocked", "inconclusive"}, None),
    ("tor.json", "tor", {"ok"}, None),
    ("tor_list.json", "tor", {"ok"}, None),
    ("whatsapp.json", "whatsapp", {"ok"}, None),
]


@pytest.mark.parametrize(("name", "domain", "outcomes", "method"), OONI_CASES)
def test_oonis_tool_measurements_get_the_verdict_their_data_supports(
    ooni_data: Path, name: str, domain: str, outcomes: set[str], method: str | None
) -> None:
    path = ooni_data / "fastpath" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    v = analyze_document(json.loads(path.read_text()))
    assert v.domain == domain
    assert v.outcome in outcomes, v.evidence
    if method is not None:
        assert v.method == method
    assert v.rule_id is not None and v.evidence


def _doc(test_name: str, keys: dict[str, Any], input_: str | None = None) -> dict[str, Any]:
    return {
        "test_name": test_name,
        "input": input_,
        "measurement_start_time": "2024-11-20 10:00:00",
        "probe_cc": "PK",
        "probe_asn": "AS17557",
        "report_id": f"20241120T100000Z_{test_name}_PK_17557_n1_x",
        "test_keys": keys,
    }


def _tcp(ip: str, port: int, failure: str | None, tid: int = 1) -> dict[str, Any]:
    return {
        "ip": ip,
        "port": port,
        "status": {"success": failure is None, "failure": failure},
        "transaction_id": tid,
    }


def _target(
    proto: str, addr: str, tcp: str | None, tls: str | None = None, failure: str | None = None
) -> dict[str, Any]:
    ip, port = addr.rsplit(":", 1)
    return {
        "target_protocol": proto,
        "target_address": addr,
        "failure": failure or tcp or tls,
        "tcp_connect": [_tcp(ip, int(port), tcp)],
        "tls_handshakes": [{"failure": tls}]
        if proto.startswith("or_port") and tcp is None
        else None,
    }


TOR_CASES = [
    # (targets, domain, outcome, method)
    ([("or_port", "10.66.1.1:9001", None)], "tor", "ok", None),
    ([("or_port", "10.66.1.1:9001", "generic_timeout_error")], "tor", "blocked", "tcp.timeout"),
    ([("or_port", "10.66.1.1:9001", None, "connection_reset")], "tor", "blocked", "tls.reset"),
    ([("or_port", "10.66.1.1:9001", "connection_refused")], "tor", "down", None),
    (
        [
            ("or_port", "10.66.1.1:9001", "generic_timeout_error"),
            ("dir_port", "10.66.1.2:9030", None),
        ],
        "tor",
        "ok",
        None,
    ),
    ([("obfs4", "10.66.1.3:443", None)], "tor-obfs4", "ok", None),
    (
        [("obfs4", "10.66.1.3:443", None, None, "generic_timeout_error")],
        "tor-obfs4",
        "blocked",
        "dpi.handshake",
    ),
    ([("obfs4", "10.66.1.3:443", "generic_timeout_error")], "tor-obfs4", "blocked", "tcp.timeout"),
]


@pytest.mark.parametrize(("targets", "domain", "outcome", "method"), TOR_CASES)
def test_tor_targets(
    targets: list[tuple[Any, ...]], domain: str, outcome: str, method: str | None
) -> None:
    keys = {"targets": {t[1]: _target(*t) for t in targets}}
    v = analyze_document(_doc("tor", keys, targets[0][1]))
    assert (v.domain, v.outcome, v.method) == (domain, outcome, method), v.evidence


def _handshake(transport: str, failure: str | None) -> dict[str, Any]:
    return {
        "endpoint": f"openvpn://10.66.2.1:1194/{transport}",
        "ip": "10.66.2.1",
        "port": 1194,
        "transport": transport,
        "failure": failure,
        "transaction_id": 1,
    }


@pytest.mark.parametrize(
    ("transport", "tcp", "failure", "outcome", "method"),
    [
        ("tcp", None, None, "ok", None),
        ("tcp", None, "generic_timeout_error", "blocked", "dpi.handshake"),
        ("tcp", None, "connection_reset", "blocked", "dpi.handshake"),
        ("tcp", "generic_timeout_error", "generic_timeout_error", "blocked", "tcp.timeout"),
        ("tcp", "connection_refused", "connection_refused", "down", None),
        ("udp", None, "generic_timeout_error", "blocked", "dpi.handshake"),
        ("udp", None, "connection_refused", "down", None),
    ],
)
def test_openvpn_handshakes(
    transport: str, tcp: str | None, failure: str | None, outcome: str, method: str | None
) -> None:
    keys: dict[str, Any] = {
        "success": failure is None,
        "failure": failure,
        "openvpn_handshake": [_handshake(transport, failure)],
        "tcp_connect": [_tcp("10.66.2.1", 1194, tcp)] if transport == "tcp" else [],
    }
    v = analyze_document(
        _doc("openvpn", keys, f"openvpn://lab.corp/?address=10.66.2.1:1194&transport={transport}")
    )
    assert (v.domain, v.outcome, v.method) == ("openvpn", outcome, method), v.evidence


def _app(
    tcp: list[str | None], tls: list[str | None], answers: list[str] | None = None
) -> dict[str, Any]:
    return {
        "queries": [
            {
                "hostname": "chat.example",
                "failure": None,
                "answers": [{"ipv4": a} for a in answers or ["10.66.3.1"]],
            }
        ],
        "tcp_connect": [_tcp(f"10.66.3.{i}", 443, f) for i, f in enumerate(tcp, 1)],
        "tls_handshakes": [
            {"address": f"10.66.3.{i}:443", "failure": f}
            for i, f in enumerate(tls, 1)
            if tcp[i - 1] is None
        ],
        "requests": [],
    }


@pytest.mark.parametrize(
    ("keys", "outcome", "method"),
    [
        (_app([None, None], [None, None]), "ok", None),
        (_app([None, None], ["ssl_invalid_hostname", None]), "blocked", "tls.mitm"),
        (_app(["generic_timeout_error"] * 2, [None, None]), "blocked", "tcp.timeout"),
        (_app([None, None], ["connection_reset"] * 2), "blocked", "tls.reset"),
        (_app([None, None, None, "generic_timeout_error"], [None] * 4), "inconclusive", None),
        (_app(["connection_refused"] * 2, [None, None]), "down", None),
        (_app([None], [None], answers=["127.0.0.1"]), "blocked", "dns.bogon"),
    ],
)
@pytest.mark.parametrize("app", ["signal", "telegram", "whatsapp"])
def test_messaging_apps(app: str, keys: dict[str, Any], outcome: str, method: str | None) -> None:
    v = analyze_document(_doc(app, keys))
    assert (v.domain, v.outcome, v.method) == (app, outcome, method), v.evidence


def test_vanilla_tor_stuck_before_a_relay_is_never_ok() -> None:
    keys = {"success": False, "failure": "generic_timeout_error", "tor_progress": 5}
    v = analyze_document(_doc("vanilla_tor", keys))
    assert v.outcome == "blocked" and v.method == "tcp.timeout" and v.confidence <= 0.5
    keys = {"success": False, "failure": "generic_timeout_error", "tor_progress": 50}
    assert analyze_document(_doc("vanilla_tor", keys)).outcome == "inconclusive"


def test_tool_measurement_without_keys_is_inconclusive() -> None:
    v = analyze_document(_doc("signal", {}))
    assert v.outcome == "inconclusive" and v.domain == "signal"


@pytest.mark.parametrize(
    ("test_name", "keys"),
    [
        ("tor", {"targets": "not a map"}),
        ("tor", {"targets": {"x": "not a target", "y": {"tcp_connect": "nope"}}}),
        ("openvpn", {"success": "yes", "openvpn_handshake": [1, None], "tcp_connect": 7}),
        ("signal", {"tcp_connect": "x", "tls_handshakes": [3], "queries": [None, {"answers": 5}]}),
        ("vanilla_tor", {"tor_progress": "five"}),
    ],
)
def test_odd_tool_keys_give_a_verdict_not_a_crash(test_name: str, keys: dict[str, Any]) -> None:
    v = analyze_document(_doc(test_name, keys))
    assert v.outcome in {"ok", "inconclusive", "down", "blocked"} and v.rule_id
