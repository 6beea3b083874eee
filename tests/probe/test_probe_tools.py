"""The tool tests against real servers: OpenVPN, a Tor relay, an obfs4 bridge (Debian's
binaries, in a namespace of the test's own), and messaging front-ends on the loopback net.
What the probe writes, the ingest reads back with the same verdicts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.analysis.verdict import analyze_document
from blockwatch.lab.censor.firewall import openvpn_dpi_rules
from blockwatch.lab.toolservers import missing, obfs4_bridge, openvpn_server, tor_relay
from blockwatch.net.timeouts import Timeouts
from blockwatch.pipeline import ingest_paths
from blockwatch.pki import CertificateAuthority
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.targets import AppTargets, ToolTargets, TorTarget, VPNTarget, load_targets
from blockwatch.probe.testing.loopnet import LoopNet
from blockwatch.probe.testing.netns import netns_skip_reason, run_in_netns
from blockwatch.probe.tools import measure_tool
from blockwatch.store import Store

FAST = Timeouts(dns=1, connect=1.5, tls=2, http=2, control=2, total=8)
LO = "127.0.0.1"


def _config(**extra: Any) -> ProbeConfig:
    return ProbeConfig(
        resolver=None, system_resolver=False, probe_cc="PK", probe_asn="AS17557",
        timeouts=FAST, **extra,
    )  # fmt: skip


async def _measure(test: str, targets: ToolTargets, config: ProbeConfig) -> list[dict[str, Any]]:
    return [doc async for doc in measure_tool(test, targets, config)]


def _verdicts(docs: list[dict[str, Any]]) -> dict[str, tuple[str, str, str | None]]:
    out = {}
    for doc in docs:
        v = analyze_document(doc)
        out[v.input or v.domain] = (v.domain, v.outcome, v.method)
    return out


def _round_trip(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    """Ingest what the probe wrote: the stored verdicts are the analyzer's."""
    path = tmp_path / "tools.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    with Store(tmp_path / "tools.duckdb") as store:
        report = ingest_paths(store, [path])
        assert report.added == len(docs)
        stored = {(v.input or v.domain): (v.domain, v.outcome, v.method) for v in store.verdicts()}
    assert stored == _verdicts(docs)


def test_the_shipped_targets_file_loads() -> None:
    targets = load_targets()
    assert (
        targets.tor and targets.openvpn and set(targets.apps) == {"signal", "telegram", "whatsapp"}
    )
    ca = targets.apps["signal"].ca_file
    assert ca is not None and Path(ca).is_file()


def test_a_bad_target_is_an_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('[[tor]]\nname = "x"\naddress = "10.0.0.1:9001"\nkind = "meek"\n')
    with pytest.raises(Exception, match=r"\[\[tor\]\] #1: kind must be one of"):
        load_targets(bad)


@pytest.mark.parametrize(
    ("behaviour", "outcome", "method"),
    [
        ("normal", "ok", None),
        ("tls_reset", "blocked", "tls.reset"),
        ("tls_mitm", "blocked", "tls.mitm"),
    ],
)
async def test_messaging_front_ends(
    net: LoopNet, tmp_path: Path, behaviour: str, outcome: str, method: str | None
) -> None:
    urls = [
        await net.site(name, tls=True, behaviour=behaviour)
        for name in ("chat.signal.test", "storage.signal.test")
    ]
    app = AppTargets("signal", tuple(urls), ca_file=str(net.ca.cert_file))
    config = net.probe_config(timeouts=FAST)
    docs = await _measure("signal", ToolTargets(apps={"signal": app}), config)
    assert len(docs) == 1 and docs[0]["test_name"] == "signal" and docs[0]["input"] is None
    keys = docs[0]["test_keys"]
    assert keys["signal_backend_status"] == ("blocked" if outcome == "blocked" else "ok")
    assert len(keys["tls_handshakes"]) == 2 and keys["queries"]
    assert _verdicts(docs) == {"signal": ("signal", outcome, method)}
    _round_trip(docs, tmp_path)


def _needs(*tools: str) -> None:
    reason = netns_skip_reason() or missing(*tools)
    if reason:
        pytest.skip(reason)


def _openvpn_run(tmp_path: Path, dpi: bool) -> list[dict[str, Any]]:
    ca = CertificateAuthority.create(tmp_path / "ca")
    rules = "table inet t {\n chain c {\n  type filter hook input priority 0; policy accept;\n"
    rules += (openvpn_dpi_rules("meta mark 0") if dpi else "") + " }\n}\n"

    async def main() -> list[dict[str, Any]]:
        servers = [
            await openvpn_server(tmp_path / "udp", ca, LO, 11940, "udp"),
            await openvpn_server(tmp_path / "tcp", ca, LO, 11941, "tcp"),
        ]
        try:
            targets = ToolTargets(
                openvpn=(
                    VPNTarget("lab-udp", LO, 11940, "udp", "lab"),
                    VPNTarget("lab-tcp", LO, 11941, "tcp", "lab"),
                    VPNTarget("nothing", LO, 11942, "udp", "lab"),
                )
            )
            return await _measure("openvpn", targets, _config())
        finally:
            await asyncio.gather(*(s.stop() for s in servers))

    return run_in_netns(rules, main)


@pytest.mark.parametrize("dpi", [False, True])
def test_openvpn_handshakes_and_dpi_by_opcode(tmp_path: Path, dpi: bool) -> None:
    _needs("openvpn")
    docs = _openvpn_run(tmp_path, dpi)
    got = _verdicts(docs)
    seen = "blocked" if dpi else "ok"
    method = "dpi.handshake" if dpi else None
    assert got["openvpn://lab.corp/?address=127.0.0.1:11940&transport=udp"] == (
        "openvpn",
        seen,
        method,
    )
    assert got["openvpn://lab.corp/?address=127.0.0.1:11941&transport=tcp"] == (
        "openvpn",
        seen,
        method,
    )
    # Nothing listens there: the port is unreachable, unless the DPI drops the packet first.
    nothing = got["openvpn://lab.corp/?address=127.0.0.1:11942&transport=udp"]
    assert nothing[1] == ("blocked" if dpi else "down")
    tcp_doc = next(d for d in docs if "transport=tcp" in d["input"])
    assert tcp_doc["test_keys"]["tcp_connect"][0]["status"]["success"]  # the transport works
    _round_trip(docs, tmp_path)


def test_tor_relay_blocked_by_address_while_obfs4_gets_through(tmp_path: Path) -> None:
    _needs("tor", "obfs4")
    # The relay's ports are "its addresses" on loopback: dropping them is address blocking.
    rules = (
        "table inet t {\n chain c {\n  type filter hook input priority 0; policy accept;\n"
        "  tcp dport { 19101, 19130 } drop\n }\n}\n"
    )

    async def main() -> list[dict[str, Any]]:
        # The bridge fronts the relay on loopback, where the drop rule sees its own traffic
        # too: it is only asked for its handshake, which ends before it dials the relay.
        relay = await tor_relay(tmp_path / "tor", LO, 19001, 19030)
        bridge = await obfs4_bridge(tmp_path / "obfs4", LO, 19443, (LO, 19001))
        try:
            targets = ToolTargets(
                tor=(
                    TorTarget("relay", LO, 19001, "or_port"),
                    TorTarget("relay-dir", LO, 19030, "dir_port"),
                    TorTarget("blocked-relay", LO, 19101, "or_port"),
                    TorTarget("blocked-dir", LO, 19130, "dir_port"),
                    TorTarget("bridge", LO, 19443, "obfs4", bridge.params, "F" * 40),
                )
            )
            return await _measure("tor", targets, _config())
        finally:
            await bridge.stop()
            await relay.stop()

    docs = run_in_netns(rules, main)
    got = _verdicts(docs)
    assert got["127.0.0.1:19001"] == ("tor", "ok", None)
    assert got["127.0.0.1:19030"] == ("tor", "ok", None)
    assert got["127.0.0.1:19101"] == ("tor", "blocked", "tcp.timeout")
    assert got["127.0.0.1:19130"] == ("tor", "blocked", "tcp.timeout")
    assert got["127.0.0.1:19443"] == ("tor-obfs4", "ok", None)
    bridge_doc = next(d for d in docs if d["input"] == "127.0.0.1:19443")
    (target,) = bridge_doc["test_keys"]["targets"].values()
    assert (
        target["target_protocol"] == "obfs4" and target["summary"]["handshake"]["failure"] is None
    )
    _round_trip(docs, tmp_path)


async def test_probe_cli_runs_a_tool_test_then_ingest_reads_the_same(
    net: LoopNet, tmp_path: Path
) -> None:
    from test_probe_cli import run  # the subprocess runner of the probe's CLI tests

    urls = [await net.site("web.telegram.test", tls=True, behaviour="tls_reset", victim=None)]
    targets = tmp_path / "targets.toml"
    targets.write_text(f'[telegram]\nca_file = "{net.ca.cert_file}"\nendpoints = ["{urls[0]}"]\n')
    out = tmp_path / "t.jsonl"
    code, text = await run(
        "-m", "blockwatch", "probe", "--test", "telegram", "--targets", str(targets),
        "--resolver", net.isp_dns.address, "--no-system-dns", "--cc", "PK", "--asn", "17557",
        "--timeout-scale", "0.2", "--out", str(out), "--db", str(tmp_path / "a.duckdb"),
        "--no-progress",
    )  # fmt: skip
    assert code == 0, text
    (doc,) = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert doc["test_name"] == "telegram" and doc["test_keys"]["telegram_web_status"] == "blocked"
    assert "tls.reset" in text
    code, text = await run(
        "-m", "blockwatch", "ingest", str(out), "--db", str(tmp_path / "b.duckdb"), "--no-progress"
    )  # fmt: skip
    assert code == 0, text
    for db in ("a.duckdb", "b.duckdb"):
        with Store(tmp_path / db, read_only=True) as store:
            (v,) = store.verdicts()
        assert (v.domain, v.outcome, v.method) == ("telegram", "blocked", "tls.reset"), db


async def test_an_unknown_test_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from test_probe_cli import run

    code, text = await run("-m", "blockwatch", "probe", "--test", "psiphon", "--no-store")
    assert code == 2 and "unknown test 'psiphon'" in text


CRASHER = """
import asyncio, sys
from pathlib import Path
from blockwatch.lab.toolservers import obfs4_bridge
from blockwatch.net.obfs4 import Obfs4Client

async def main():
    bridge = await obfs4_bridge(Path(sys.argv[1]), "127.0.0.1", 19743, ("127.0.0.1", 9))
    client = await Obfs4Client.start()
    print(bridge.process.pid, client.process.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


async def test_tool_processes_die_with_a_crashed_parent(tmp_path: Path) -> None:
    if missing("obfs4"):
        pytest.skip(missing("obfs4") or "")
    # The bridge listens on loopback only and dials nothing unasked.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHER, str(tmp_path / "b"), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    pids = [int(p) for p in line.split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    proc.kill()  # a crash: no cleanup code runs
    await proc.wait()
    for _ in range(50):
        if not any(_alive(p) for p in pids):
            break
        await asyncio.sleep(0.1)
    assert not any(_alive(p) for p in pids)
