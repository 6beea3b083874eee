"""The lab's long-lived processes, each inside its namespace (``ip netns exec``).

Every child gets PR_SET_PDEATHSIG=SIGKILL (it dies with the runner, even on SIGKILL) and
its own session (Ctrl-C reaches only the runner, which then tears down in order).
Replies are read with a deadline, so a hung agent fails the run instead of freezing it.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import IO, Any

import orjson

from blockwatch.errors import LabError

PR_SET_PDEATHSIG = 1
REPLY_SECONDS = 30.0
ROUND_SECONDS = 120.0


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Agent:
    """A child process speaking JSON lines on stdin/stdout."""

    def __init__(self, name: str, ns: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.ns = ns
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            preexec_fn=_die_with_parent,  # a child must never outlive the runner
            start_new_session=True,
        )
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"lab-{name}")
        self.exits_on_eof = True  # False: a server that must be told with SIGTERM

    @classmethod
    def python(cls, name: str, ns: str, args: list[str], log: Path) -> Agent:
        return cls(name, ns, [sys.executable, "-m", *args], log)

    def send(self, obj: dict[str, Any]) -> None:
        stdin: IO[bytes] | None = self.proc.stdin
        try:
            assert stdin is not None
            stdin.write(orjson.dumps(obj) + b"\n")
            stdin.flush()
        except (OSError, ValueError) as exc:
            raise LabError(f"{self.name} is gone ({self.tail()})") from exc

    def _readline(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise LabError(f"{self.name} exited ({self.tail()})")
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise LabError(f"{self.name} said something unreadable: {line[:200]!r}") from exc
        if not isinstance(obj, dict):
            raise LabError(f"{self.name} said {line[:200]!r}")
        return obj

    def reply(self, seconds: float = REPLY_SECONDS) -> dict[str, Any]:
        try:
            obj = self._pool.submit(self._readline).result(timeout=seconds)
        except FutureTimeout as exc:
            raise LabError(f"{self.name} did not answer within {seconds:.0f} s") from exc
        if "error" in obj:
            raise LabError(f"{self.name}: {obj['error']}")
        return obj

    def command(self, obj: dict[str, Any]) -> None:
        self.send(obj)
        self.reply()

    def measure(
        self,
        urls: list[str],
        start_time: str,
        report_id: str,
        tools: tuple[list[str], Path] | None = None,
    ) -> list[dict[str, Any]]:
        """One round of the probe worker: its measurements, whatever order they came in;
        ``tools``: the tool tests to run too, and their targets file."""
        line: dict[str, Any] = {"urls": urls, "start_time": start_time, "report_id": report_id}
        if tools is not None:
            line.update(tools=tools[0], targets=str(tools[1]))
        self.send(line)
        docs: list[dict[str, Any]] = []
        deadline = time.monotonic() + ROUND_SECONDS
        while True:
            obj = self.reply(max(1.0, deadline - time.monotonic()))
            if obj.get("done"):
                return docs
            docs.append(obj)

    def wait_for_log(self, text: str, seconds: float = 15.0) -> None:
        """Wait until the agent writes ``text`` to its log (servers that print readiness)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError(f"{self.name} exited ({self.tail()})")
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise LabError(f"{self.name} not ready within {seconds:.0f} s ({self.tail()})")

    def tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return f"log {self.log_path}: " + (" | ".join(lines[-3:]) or "empty")

    def stop_input(self) -> None:
        """EOF on stdin: the agent's cue to exit cleanly."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            if not self.exits_on_eof and self.proc.poll() is None:
                self.proc.terminate()
        except OSError:
            pass

    def close(self, seconds: float = 2.0) -> None:
        """EOF first (a clean exit), then SIGKILL if it lingers."""
        self.stop_input()
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._log.close()


def close_all(agents: list[Agent], seconds: float = 2.0) -> None:
    """Stop every agent, sharing one grace period rather than one each."""
    for agent in agents:
        agent.stop_input()
    deadline = time.monotonic() + seconds
    for agent in agents:
        agent.close(max(0.0, deadline - time.monotonic()))
