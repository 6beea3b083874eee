"""A lab run as a standing observatory: a `blockwatch serve` on the lab's uncensored side
(the control namespace), every vantage's probe uploading its rounds to it through a spool,
and a newsroom subscribed to its webhooks. The lab's virtual clock ticks when the
observatory has decided its events on a round: once every probe has delivered the round
(networks run in lockstep), the newsroom, on the same side, asks the collector to settle
(`POST /api/collector/settle`) once, so events are decided on whole rounds, once a round."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import orjson

from blockwatch.errors import LabError
from blockwatch.lab import topology
from blockwatch.lab.agents import Agent

__all__ = ["Observatory", "read_alerts"]

PORT: Final = 8800
NEWSROOM_PORT: Final = 8801
STOP_SECONDS: Final = 60.0
SETTLE_SECONDS: Final = 150.0  # the newsroom's own request gives up after 120 s


class Observatory:
    def __init__(self, plan: topology.Plan, db: Path, work: Path, out: Path) -> None:
        self.plan = plan
        self.db = db
        self.work = work
        self.alerts_file = out / "alerts.jsonl"
        self.url = f"http://{topology.CONTROL_IP}:{PORT}"
        self.server: Agent | None = None
        self.newsroom: Agent | None = None
        self._subscribing: subprocess.Popen[str] | None = None

    def subscribe(self) -> None:
        """Subscribe the newsroom to the store's webhooks; runs while the lab's other agents
        start (``start`` waits for it: the server must find the subscription)."""
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self.alerts_file.unlink(missing_ok=True)
        hook = f"http://127.0.0.1:{NEWSROOM_PORT}/alerts"
        self._subscribing = subprocess.Popen(
            [sys.executable, "-m", "blockwatch", "alerts", "add", "--url", hook,
             "--db", str(self.db)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def start(self, agents: list[Agent]) -> None:
        """Start the newsroom and the server (``ready`` waits for them)."""
        if self._subscribing is None:
            self.subscribe()
        assert self._subscribing is not None
        try:
            _, err = self._subscribing.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self._subscribing.kill()
            _, err = self._subscribing.communicate()
        if self._subscribing.returncode != 0:
            raise LabError(f"cannot subscribe the newsroom: {err.strip()}")
        newsroom = [
            "blockwatch.lab.newsroom", "--port", str(NEWSROOM_PORT),
            "--out", str(self.alerts_file), "--observatory", self.url,
        ]  # fmt: skip
        self.newsroom = self._agent("newsroom", newsroom, agents)
        self.newsroom.exits_on_eof = True
        serve = [
            "blockwatch", "serve", "--db", str(self.db), "--host", topology.CONTROL_IP,
            "--port", str(PORT), "--url", self.url, "--events-every", "3600",
        ]  # fmt: skip
        self.server = self._agent("observatory", serve, agents)

    def ready(self) -> None:
        assert self.newsroom is not None and self.server is not None
        self.newsroom.wait_for_log("listening")
        self.server.wait_for_log("observatory", seconds=60)

    def _agent(self, name: str, args: list[str], agents: list[Agent]) -> Agent:
        agent = Agent.python(name, self.plan.control, args, self.work / f"{name}.log")
        agent.exits_on_eof = False  # servers: SIGTERM, not EOF, stops them
        agents.append(agent)
        return agent

    def worker_args(self, index: int) -> list[str]:
        # The probes deliver; the lab settles once the round is in from all of them.
        spool = str(self.work / f"spool{index}")
        return ["--collector", self.url, "--spool", spool, "--no-settle"]

    def settle(self, _round: int) -> None:
        """Decide the observatory's events on everything delivered (called between rounds)."""
        assert self.newsroom is not None
        self.newsroom.send({"settle": True})
        self.newsroom.reply(SETTLE_SECONDS)

    def finish(self) -> None:
        """Stop the server cleanly: its last commits, event update and deliveries."""
        if self.server is not None:
            self.server.close(STOP_SECONDS)
        if self.newsroom is not None:
            self.newsroom.close()


def read_alerts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line)["alert"] for line in path.read_bytes().splitlines() if line]
