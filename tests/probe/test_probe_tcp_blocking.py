"""TCP-level censorship needs a packet filter: a namespace the test creates, with nftables
dropping or rejecting only the probe's packets to one site."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from blockwatch.analysis.verdict import analyze_document
from blockwatch.probe.runner import measure_url
from blockwatch.probe.testing.loopnet import PROBE_IP, LoopNet
from blockwatch.probe.testing.netns import netns_skip_reason, run_in_netns

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(netns_skip_reason() is not None, reason=str(netns_skip_reason())),
]
DROPPED = "127.0.0.40"
REJECTED = "127.0.0.41"
RULES = f"""
table inet probetest {{
  chain out {{
    type filter hook output priority 0; policy accept;
    ip saddr {PROBE_IP} ip daddr {DROPPED} drop
    ip saddr {PROBE_IP} ip daddr {REJECTED} tcp flags syn reject with tcp reset
  }}
}}
"""


def measure_in_netns(tmp_path: Path, ip: str) -> tuple[dict, float]:
    async def main() -> tuple[dict, float]:
        net = await LoopNet.start(tmp_path)
        try:
            url = await net.site("filtered.test", ip=ip)
            started = time.monotonic()
            doc = await measure_url(url, net.probe_config())
            return doc, time.monotonic() - started
        finally:
            await net.close()

    return run_in_netns(RULES, main)


def test_dropped_syn_is_tcp_timeout_while_control_connects(tmp_path: Path) -> None:
    doc, elapsed = measure_in_netns(tmp_path, DROPPED)
    tk = doc["test_keys"]
    status = tk["tcp_connect"][0]["status"]
    assert status == {"success": False, "failure": "generic_timeout_error", "blocked": True}
    assert tk["blocking"] == "tcp_ip"
    assert elapsed < 8
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "tcp.timeout")


def test_rejected_syn_is_tcp_reset_while_control_connects(tmp_path: Path) -> None:
    doc, _ = measure_in_netns(tmp_path, REJECTED)
    tk = doc["test_keys"]
    status = tk["tcp_connect"][0]["status"]
    assert status == {"success": False, "failure": "connection_refused", "blocked": True}
    assert tk["blocking"] == "tcp_ip"
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "tcp.reset")
