"""A lab run as a standing observatory: a `blockwatch serve` on the lab's uncensored side
(the control namespace), every vantage's probe uploading its rounds to it through a spool,
and a newsroom subscribed to its webhooks. The lab's virtual clock ticks when the
observatory has decided its events on a round: each probe, its round delivered, asks the
collector to settle (`POST /api/collector/settle`), so events are decided on whole rounds."""

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


class Observatory:
    def __init__(self, plan: topology.Plan, db: Path, work: Path, out: Path) -> None:
        self.plan = plan
        self.db = db
        self.work = work
        self.alerts_file = out / "alerts.jsonl"
        self.url = f"http://{topology.CONTROL_IP}:{PORT}"
        self.server: Agent | None = None
        self.newsroom: Agent | None = None

    def start(self, agents: list[Agent]) -> None:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self.alerts_file.unlink(missing_ok=True)
        hook = f"http://127.0.0.1:{NEWSROOM_PORT}/alerts"
        done = subprocess.run(
            [sys.executable, "-m", "blockwatch", "alerts", "add", "--url", hook,
             "--db", str(self.db)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise LabError(f"cannot subscribe the newsroom: {done.stderr.strip()}")
        newsroom = [
            "blockwatch.lab.newsroom", "--port", str(NEWSROOM_PORT),
            "--out", str(self.alerts_file),
        ]  # fmt: skip
        self.newsroom = self._agent("newsroom", newsroom, agents)
        self.newsroom.wait_for_log("listening")
        serve = [
            "blockwatch", "serve", "--db", str(self.db), "--host", topology.CONTROL_IP,
            "--port", str(PORT), "--url", self.url, "--events-every", "3600",
        ]  # fmt: skip
        self.server = self._agent("observatory", serve, agents)
        self.server.wait_for_log("observatory", seconds=60)

    def _agent(self, name: str, args: list[str], agents: list[Agent]) -> Agent:
        agent = Agent.python(name, self.plan.control, args, self.work / f"{name}.log")
        agent.exits_on_eof = False  # servers: SIGTERM, not EOF, stops them
        agents.append(agent)
        return agent

    def worker_args(self, index: int) -> list[str]:
        return ["--collector", self.url, "--spool", str(self.work / f"spool{index}")]

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
