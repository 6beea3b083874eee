"""Running a scenario: build the lab, play every round, write measurements and truth.

``run_scenario`` is the library entry point (``blockwatch lab run`` and ``make demo`` call
it). Rounds run back to back, as fast as the network allows: virtual time only stamps
the measurements. All vantages of a round measure at once. Everything is torn down on
return, on Ctrl-C, on SIGTERM and on errors; after a SIGKILL, ``blockwatch lab down``.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from blockwatch.analysis.verdict import WEB_CONNECTIVITY as WEB
from blockwatch.errors import LabError
from blockwatch.lab import labtools, topology
from blockwatch.lab.agents import Agent, close_all
from blockwatch.lab.alertscore import AlertScore, score_alerts
from blockwatch.lab.clock import NetworkState, Round, rounds, site_addresses
from blockwatch.lab.groundtruth import build_truth, read_truth, true_blocks
from blockwatch.lab.ingest import Ingester
from blockwatch.lab.observatory import Observatory, read_alerts
from blockwatch.lab.pacer import Pacer
from blockwatch.lab.scenario import Scenario, check_measurable, load
from blockwatch.lab.truth import iso, truth_rows
from blockwatch.ooni.measurement import report_id
from blockwatch.pki import CertificateAuthority
from blockwatch.store import Store
from blockwatch.terminal import markup


@dataclass
class RunSummary:
    scenario: str
    out_dir: Path
    seed: int | None
    rounds: int
    measurements: int
    seconds: float
    truth: dict[str, int] = field(default_factory=dict)
    ingested: int | None = None  # None: no store
    alerts: AlertScore | None = None  # observatory runs: the alerts, scored

    @property
    def per_second(self) -> float:
        return self.measurements / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        mix = ", ".join(f"{k} {v}" for k, v in sorted(self.truth.items()))
        stored = "" if self.ingested is None else f"; {self.ingested} new in the store"
        text = (
            f"{self.scenario}: {self.rounds} rounds, {self.measurements} measurements in "
            f"{self.seconds:.1f} s ({self.per_second:.1f}/s), seed {self.seed}{stored}; "
            f"truth: {mix} -> {self.out_dir}"
        )
        return text if self.alerts is None else f"{text}\n{self.alerts}"


def run_scenario(
    path: str | Path,
    out_dir: str | Path,
    seed: int | None = None,
    db: str | Path | None = None,
    progress: bool = True,
    observatory: bool = False,
) -> RunSummary:
    """Run the scenario at ``path`` end to end; ingest into ``db`` when given. With
    ``observatory``, the probes upload to a collector serving ``db`` instead, and its alerts
    are scored."""
    scenario = load(path)
    check_measurable(scenario)
    reason = topology.skip_reason()
    if reason is not None:  # before anything is written
        raise LabError(reason)
    if observatory and db is None:
        raise LabError("an observatory run needs a store (--db)")
    run = LabRun(scenario, Path(out_dir), seed, Path(db) if db else None)
    run.observatory = (
        Observatory(run.plan, Path(db), Path(out_dir) / "lab", Path(out_dir))
        if observatory and db
        else None
    )
    return run.run(progress)


class LabRun:
    def __init__(self, scenario: Scenario, out: Path, seed: int | None, db: Path | None):
        self.scenario = scenario
        self.out = out
        self.seed = scenario.seed if seed is None else seed
        self.db = db
        self.addresses = site_addresses(scenario)
        self.tool_servers = labtools.servers(scenario.tools)  # addresses of their own
        self.tool_tests = labtools.tests(scenario.tools)
        self.targets_file: Path | None = None  # the probe's targets for them (lab/tools.toml)
        paths = [(n.path.before, n.path.after) for n in scenario.networks]
        self.plan = topology.plan(len(scenario.networks), topology.new_run_id(), paths)
        self.agents: list[Agent] = []
        self.censors: dict[str, Agent] = {}
        self.workers: dict[str, Agent] = {}
        self.observatory: Observatory | None = None
        self._torn_down = False

    # -- lifecycle -------------------------------------------------------------------------

    def run(self, progress: bool) -> RunSummary:
        self.out.mkdir(parents=True, exist_ok=True)
        copy = self.out / "scenario.toml"
        src = Path(self.scenario.source)
        if src.is_file() and src.resolve() != copy.resolve():  # the run says what it ran
            shutil.copyfile(src, copy)
        work = self.out / "lab"
        work.mkdir(exist_ok=True)
        in_main = threading.current_thread() is threading.main_thread()  # signals need it
        stops = (signal.SIGTERM, signal.SIGHUP) if in_main else ()
        previous = {s: signal.signal(s, _raise_interrupt) for s in stops}
        atexit.register(self.teardown)
        started = time.monotonic()
        try:
            topology.build(self.plan, self._addresses())
            self._start(work)
            summary = self._play(progress)
        finally:
            self.teardown()
            atexit.unregister(self.teardown)
            for s, handler in previous.items():
                signal.signal(s, handler)
        summary.seconds = time.monotonic() - started
        return summary

    def start(self) -> None:
        """Build the lab and start its agents without playing rounds, for a tool run inside
        it (``blockwatch trace`` from a vantage); ``apply`` sets a round's censors,
        ``teardown`` removes everything."""
        work = self.out / "lab"
        work.mkdir(parents=True, exist_ok=True)
        atexit.register(self.teardown)
        try:
            topology.build(self.plan, self._addresses())
            self._start(work)
        except BaseException:
            self.teardown()
            raise

    def apply(self, rnd: Round) -> None:
        """Put every censor in its state of round ``rnd``."""
        for name, state in rnd.networks.items():
            self.censors[name].command(self._censor_command(state))

    def _addresses(self) -> list[str]:
        return [*self.addresses.values(), *(s.ip for s in self.tool_servers)]

    def _censor_command(self, state: NetworkState) -> dict[str, Any]:
        sites = [(d, b) for d, b in state.blocks if d in self.addresses]
        tools = {d: [b.technique, b.rate_bps] for d, b in state.blocks if d not in self.addresses}
        blocks, addresses = labtools.censor_blocks(tools, self.tool_servers)
        return {
            "down": state.down,
            "blocks": {d: [b.technique, b.rate_bps] for d, b in sites} | blocks,
            "addresses": {d: self.addresses[d] for d, _ in sites} | addresses,
        }

    def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        close_all(self.agents)
        topology.teardown(self.plan)

    def _start(self, work: Path) -> None:
        if self.observatory is not None:
            self.observatory.subscribe()  # a process of its own, beside the agents' starts
        lab_ca = CertificateAuthority.create(work, "lab-ca", "blockwatch lab CA")
        CertificateAuthority.create(work, "censor-ca", "Censor's interception CA")
        self.internet = self._start_internet(work)
        # One control helper per network (same namespace, one port each): the helper
        # does as much work per URL as a probe, and one process would be the bottleneck.
        controls = []
        for n in self.plan.networks:
            ctl_args = [
                "blockwatch", "control", "serve", "--host", topology.CONTROL_IP,
                "--port", str(topology.control_port(n.index)), "--allow-private",
                "--resolver", topology.AUTH_DNS, "--ca-file", str(lab_ca.cert_file),
                "--max-concurrent", "128",
            ]  # fmt: skip
            log = work / f"control{n.index}.log"
            control = Agent.python(f"control {n.index}", self.plan.control, ctl_args, log)
            control.exits_on_eof = False
            self.agents.append(control)
            controls.append(control)
        t = self.scenario.timeout
        for net, n in zip(self.scenario.networks, self.plan.networks, strict=True):
            cfg = {
                "ca_dir": str(work),
                "upstream_dns": topology.AUTH_DNS,
                "resolver_host": n.resolver,
            }
            path = _write(work / f"censor{n.index}.json", cfg)
            self.censors[net.name] = self._agent(
                f"censor {net.name}", n.censor, work, "blockwatch.lab.censor.agent", path
            )
        if self.observatory is not None:
            self.observatory.start(self.agents)
        for net, n in zip(self.scenario.networks, self.plan.networks, strict=True):
            probe = {
                "control_url": f"http://{topology.CONTROL_IP}:{topology.control_port(n.index)}/",
                "resolver": n.resolver,
                "system_resolver": True,
                "probe_cc": self.scenario.country,
                "probe_asn": f"AS{net.asn}",
                "probe_network_name": net.name,
                "ca_file": str(lab_ca.cert_file),
                "timeouts": {
                    "dns": t,
                    "connect": t,
                    "tls": t,
                    "http": 2 * t,
                    "control": 4 * t,
                    "total": 6 * t,
                },
                "concurrency": 32,
            }
            path = _write(work / f"probe{n.index}.json", probe)
            upload = tuple(self.observatory.worker_args(n.index)) if self.observatory else ()
            self.workers[net.name] = self._agent(
                f"probe {net.name}", n.vantage, work, "blockwatch.probe.worker", path, upload
            )
        hello = self.internet.reply(60.0)  # tor relays take a few seconds to start
        if self.tool_tests:
            self.targets_file = work / "tools.toml"
            toml = labtools.targets_toml(
                self.scenario.tools, self.tool_servers, str(hello.get("obfs4", "")),
                str(lab_ca.cert_file),
            )  # fmt: skip
            self.targets_file.write_text(toml, encoding="utf-8")
        for agent in self.censors.values():
            agent.reply()
        for control in controls:
            control.wait_for_log("listening")
        if self.observatory is not None:
            self.observatory.ready()

    def _start_internet(self, work: Path) -> Agent:
        """The internet agent: the sites' origins and the apps' front-ends, the authoritative
        DNS, and the tools' servers."""
        sites = [
            {"domain": s.domain, "ip": self.addresses[s.domain], "body_bytes": s.body_bytes}
            for s in self.scenario.sites
        ]
        sites += [
            {"domain": host, "ip": ip, "body_bytes": 1024}
            for host, ip in labtools.app_origins(self.tool_servers)
        ]
        tools = labtools.internet_spec(self.scenario.tools, self.tool_servers, str(work / "tools"))
        config = {"sites": sites, "ca_dir": str(work), "tools": tools}
        path = _write(work / "internet.json", config)
        return self._agent("internet", self.plan.inet, work, "blockwatch.lab.internet", path)

    def _agent(
        self, name: str, ns: str, work: Path, module: str, config: Path, extra: tuple[str, ...] = ()
    ) -> Agent:
        log = work / f"{name.replace(' ', '-')}.log"
        agent = Agent.python(name, ns, [module, "--config", str(config), *extra], log)
        self.agents.append(agent)
        return agent

    # -- rounds ----------------------------------------------------------------------------

    def _play(self, show: bool) -> RunSummary:
        sc = self.scenario
        plan = list(rounds(sc, self.seed))
        summary = RunSummary(sc.name, self.out, self.seed, 0, 0, 0.0)
        truth: Counter[str] = Counter()
        stores = self.db is not None and self.observatory is None  # else the collector does
        ingester = (
            Ingester(self.db, self.out / "measurements.jsonl") if stores and self.db else None
        )
        columns = (
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[measured]} measurements"), TimeElapsedColumn(),
        )  # fmt: skip
        window = 1 if self.observatory is not None else Pacer.WINDOW
        settle = self.observatory.settle if self.observatory is not None else None
        pacer = Pacer(plan, [n.name for n in sc.networks], self._apply_internet, window, settle)
        threads = [
            threading.Thread(
                target=pacer.guard,
                args=(n.name, self._network_loop, plan, pacer),
                name=f"lab-{n.name}",
                daemon=True,  # one blocked on a probe must not keep the interpreter alive
            )
            for n in sc.networks
        ]
        with (
            (self.out / "measurements.jsonl").open("wb") as meas,
            (self.out / "truth.jsonl").open("wb") as tru,
            Progress(*columns, disable=not show, transient=False) as bar,
        ):
            # The description is rendered as markup: the scenario's name is plain text.
            task = bar.add_task(f"lab {markup(sc.name)}", total=len(plan), measured=0)
            for t in threads:
                t.start()
            try:
                for rnd in plan:
                    docs = pacer.collect(rnd.index)
                    meas.write(b"".join(orjson.dumps(d) + b"\n" for d in docs))
                    rows = truth_rows(sc, rnd)
                    tru.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
                    truth.update(r["truth"] for r in rows)
                    if ingester is not None:
                        ingester.put(docs)
                    summary.rounds += 1
                    summary.measurements += len(docs)
                    bar.update(task, advance=1, measured=summary.measurements)
            except BaseException:
                pacer.abort()
                self.teardown()  # stops the probes, which unblocks the network threads
                raise
            finally:
                pacer.abort()
                for t in threads:
                    t.join(timeout=5)
        if ingester is not None:
            summary.ingested = ingester.finish()
        if self.observatory is not None:
            self._score_alerts(summary)
        summary.truth = dict(truth)
        return summary

    def _score_alerts(self, summary: RunSummary) -> None:
        assert self.observatory is not None and self.db is not None
        self.observatory.finish()
        with Store(self.db, read_only=True) as store:
            summary.ingested = store.count("measurements")
        truth = build_truth(read_truth(self.out / "truth.jsonl"), self.scenario)
        alerts = read_alerts(self.observatory.alerts_file)
        summary.alerts = score_alerts(alerts, truth, true_blocks(truth, self.scenario))

    def _network_loop(self, name: str, plan: list[Round], pacer: Pacer) -> None:
        """One network's rounds, back to back: its censor's state, then its probe."""
        sc = self.scenario
        net = next(n for n in sc.networks if n.name == name)
        censor, worker = self.censors[name], self.workers[name]
        urls, order = sc.urls, {u: i for i, u in enumerate(sc.urls)}
        applied: dict[str, Any] | None = None
        for rnd in plan:
            pacer.wait_turn(name, rnd.index)
            state = rnd.networks[name]
            command = self._censor_command(state)
            if command != applied:  # the censor changes only when the policy does
                censor.command(command)
                applied = command
            rid = report_id(rnd.at, WEB, sc.country, f"AS{net.asn}", f"bwlab{rnd.index:05d}")
            tools = (self.tool_tests, self.targets_file) if self.targets_file else None
            docs = worker.measure(urls, iso(rnd), rid, tools)
            docs.sort(key=lambda d: (order.get(str(d.get("input")), len(order)), _tool_key(d)))
            pacer.done(name, rnd.index, docs)

    def _apply_internet(self, rnd: Round) -> None:
        self.internet.command({"sites_down": sorted({self.addresses[d] for d in rnd.sites_down})})


def _tool_key(doc: dict[str, Any]) -> tuple[str, str]:
    # Tool measurements come after the URLs, by test and input: a run's file is stable.
    return str(doc.get("test_name")), str(doc.get("input") or "")


def _write(path: Path, obj: dict[str, Any]) -> Path:
    path.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2))
    return path


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM/SIGHUP become KeyboardInterrupt so the same `finally` tears the lab down.
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":  # pragma: no cover - a quick manual entry point
    print(run_scenario(sys.argv[1], sys.argv[2]))
