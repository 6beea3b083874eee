"""Tools in the lab, for real: tor relays, an obfs4 bridge and OpenVPN servers in the lab's
internet, messaging front-ends as lab origins, the probe's tool rounds, the censor's address
blocks and OpenVPN DPI, scored per experiment against the truth. Each scenario runs once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest
from typer.testing import CliRunner

from blockwatch.analysis.verdict import analyze_document
from blockwatch.cli import app
from blockwatch.lab import topology
from blockwatch.lab.run import RunSummary, run_scenario
from blockwatch.lab.score import EXPERIMENT_BAR, ScoreReport, score_run
from blockwatch.lab.toolservers import missing
from blockwatch.lab.topology import skip_reason as lab_skip_reason
from blockwatch.store import Filter, Store
from blockwatch.web.report import write_report

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "scenarios" / "techniques" / "tools"
VPN = REPO / "scenarios" / "pk-2024-vpn.toml"
SERVERS = ("tor", "obfs4proxy", "openvpn")
_skip = lab_skip_reason() or missing("tor", "obfs4", "openvpn")
pytestmark = [pytest.mark.lab, pytest.mark.skipif(_skip is not None, reason=_skip or "")]


def tool_processes(under: Path) -> list[psutil.Process]:
    """tor, obfs4proxy and openvpn processes working in a folder under ``under`` (the lab's
    servers run in DIR/lab/tools/...)."""
    found = []
    for proc in psutil.process_iter(["name", "cwd"]):
        cwd = proc.info.get("cwd") or ""
        if proc.info["name"] in SERVERS and cwd.startswith(str(under)):
            found.append(proc)
    return found


class Run:
    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        self.out = summary.out_dir
        self.score: ScoreReport = score_run(self.out)
        self.experiments = {e.experiment: e for e in self.score.experiments}
        truth = {}
        for line in (self.out / "truth.jsonl").read_bytes().splitlines():
            row = orjson.loads(line)
            truth[(row["at"], row["probe_asn"], row["input"])] = row
        self.judged: list[tuple[dict, str, str, str | None]] = []  # (truth row, domain, ...)
        for line in (self.out / "measurements.jsonl").read_bytes().splitlines():
            doc = orjson.loads(line)
            v = analyze_document(doc)
            at = doc["measurement_start_time"].replace(" ", "T") + "Z"
            row = truth[(at, doc["probe_asn"], doc["input"] or v.domain)]
            self.judged.append((row, v.domain, v.outcome, v.method))

    def outcomes(self, domain: str, truth: str) -> set[tuple[str, str | None]]:
        return {(o, m) for row, d, o, m in self.judged if d == domain and row["truth"] == truth}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every tool scenario, run once for the module (the VPN scenario with a store)."""
    tmp = tmp_path_factory.mktemp("tools")
    out: dict[str, Run] = {}
    for path in sorted(TOOLS.glob("*.toml")):
        out[path.stem] = Run(run_scenario(path, tmp / path.stem, progress=False))
    vpn = tmp / "vpn"
    out["pk-2024-vpn"] = Run(run_scenario(VPN, vpn, db=vpn / "s.duckdb", progress=False))
    return out


@pytest.mark.parametrize(
    "name", ["address.list", "obfs4.address", "openvpn.dpi", "tor.address", "pk-2024-vpn"]
)
def test_each_tool_scenario_scores_per_experiment_with_no_false_block(
    runs: dict[str, Run], name: str
) -> None:
    run = runs[name]
    assert run.score.matched == run.score.verdicts == run.summary.measurements
    blocked = [e for e in run.score.experiments if e.blocked]
    assert blocked, "each scenario blocks something"
    for e in run.score.experiments:
        assert e.precision >= EXPERIMENT_BAR and e.recall >= EXPERIMENT_BAR, e
        assert e.fp == 0, f"a false block of {e.experiment}"
    # Every unaffected measurement of a tool came out ok: not blocked, and not down either.
    unaffected = {(d, o) for row, d, o, _ in run.judged if row["truth"] == "none"}
    assert {o for _, o in unaffected} == {"ok"}, unaffected
    assert not tool_processes(run.out)  # the servers ended with the run


def test_openvpn_dpi_blocks_both_transports_while_obfs4_and_tor_get_through(
    runs: dict[str, Run],
) -> None:
    run = runs["openvpn.dpi"]
    assert run.outcomes("openvpn", "dpi.handshake") == {("blocked", "dpi.handshake")}
    inputs = {row["input"] for row, d, o, _ in run.judged if d == "openvpn" and o == "blocked"}
    assert {i.rsplit("=", 1)[1] for i in inputs} == {"udp", "tcp"}
    for tool in ("tor-obfs4", "tor", "signal"):
        assert run.outcomes(tool, "none") == {("ok", None)}


def test_obfs4_survives_dpi_but_not_address_blocking(runs: dict[str, Run]) -> None:
    run = runs["obfs4.address"]
    assert run.outcomes("openvpn", "dpi.handshake") == {("blocked", "dpi.handshake")}
    # Under DPI alone the bridge answered; once its address is dropped, it is blocked.
    assert run.outcomes("tor-obfs4", "none") == {("ok", None)}
    assert run.outcomes("tor-obfs4", "tcp.timeout") == {("blocked", "tcp.timeout")}
    assert run.outcomes("tor", "none") == {("ok", None)}


def test_tor_relays_and_a_list_of_addresses_blocked_by_address(runs: dict[str, Run]) -> None:
    tor = runs["tor.address"]
    assert tor.outcomes("tor", "tcp.timeout") == {("blocked", "tcp.timeout")}
    ports = {row["input"].rsplit(":", 1)[1] for row, d, o, _ in tor.judged if o == "blocked"}
    assert ports == {"9001", "9030"}  # the OR and the directory ports of both relays
    assert tor.outcomes("tor-obfs4", "none") == {("ok", None)}
    apps = runs["address.list"]
    for tool in ("signal", "telegram"):
        assert apps.outcomes(tool, "tcp.timeout") == {("blocked", "tcp.timeout")}
    assert apps.outcomes("whatsapp", "none") == {("ok", None)}


def test_the_vpn_scenario_tells_its_story_in_events_and_reports(
    runs: dict[str, Run], tmp_path: Path
) -> None:
    run = runs["pk-2024-vpn"]
    assert run.score.failures() == []  # every true block found within a round, no false event
    db = run.out / "s.duckdb"
    result = CliRunner().invoke(app, ["events", "--db", str(db)])  # detected and stored
    assert result.exit_code == 0, result.output
    with Store(db, read_only=True) as store:
        events = [e for e in store.events() if e.kind == "censorship" and e.probe_asn]
        stored = {v.measurement_id: (v.domain, v.outcome, v.method) for v in store.verdicts()}
    started = {(e.domain, e.probe_asn): e.start.strftime("%Y-%m-%d %H:%M") for e in events}
    assert started[("openvpn", "AS17557")] == "2024-11-15 12:00"  # DPI on PTCL from then
    assert started[("tor", "AS59257")] == "2024-11-15 00:00"  # relays by address on Zong
    assert {a for d, a in started if d == "x.com"} == {"AS17557", "AS45669", "AS59257"}
    assert not {d for d, _ in started} & {"tor-obfs4", "signal", "wikipedia.org"}
    # What the probe wrote, the ingest read with the same verdicts.
    for line in (run.out / "measurements.jsonl").read_bytes().splitlines():
        doc = orjson.loads(line)
        v = analyze_document(doc)
        assert stored[v.measurement_id] == (v.domain, v.outcome, v.method)
    # The evidence reports: OpenVPN's event on PTCL, obfs4 reachable everywhere.
    openvpn = write_report(db, tmp_path / "ovpn.html", scope=Filter(country="PK", domain="openvpn"))
    obfs4 = write_report(
        db, tmp_path / "obfs4.html", scope=Filter(country="PK", domain="tor-obfs4")
    )
    page = openvpn.read_text()
    assert "AS17557 (PTCL)" in page and "2024-11-15 12:00 UTC" in page and "dpi.handshake" in page
    assert "without a control" in page
    assert "48 from the lab (SIMULATED)" in page  # the tool rounds' report ids say so
    page = obfs4.read_text()
    assert "ok: 24" in page and "blocked:" not in page


def test_a_sigkilled_run_leaves_no_tool_server_and_lab_down_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "blockwatch", "lab", "run", str(TOOLS / "obfs4.address.toml")]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out), "--no-store", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prefix = f"{topology.PREFIX}{proc.pid}x"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out / "truth.jsonl").exists():
            time.sleep(0.1)  # the servers are up and the rounds have begun
        assert {p.info["name"] for p in tool_processes(out)} == set(SERVERS)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    namespaces = [ns for ns in topology.ours() if ns.startswith(prefix)]
    assert namespaces  # SIGKILL leaves the namespaces behind...
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and tool_processes(out):
        time.sleep(0.1)
    assert tool_processes(out) == []  # ...but no tor, obfs4proxy or openvpn
    for ns in namespaces:  # nor anything else running inside them
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        assert pids.stdout.split() == [], ns
    result = CliRunner().invoke(app, ["lab", "down"])
    assert result.exit_code == 0, result.output
    assert not [ns for ns in topology.ours() if ns.startswith(prefix)]


def test_an_interrupted_run_stops_its_tool_servers(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "blockwatch", "lab", "run", str(TOOLS / "openvpn.dpi.toml")]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out), "--no-store", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out / "truth.jsonl").exists():
            time.sleep(0.1)
        assert tool_processes(out)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert tool_processes(out) == []
    assert not [ns for ns in topology.ours() if ns.startswith(f"{topology.PREFIX}{proc.pid}x")]
    assert os.path.exists(out / "lab" / "tools.toml")
