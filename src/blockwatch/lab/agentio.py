"""The line protocol between the lab runner and its agents (one JSON object per line).

An agent prints ``{"ready": true}`` once it listens, then answers each command line on
stdin with ``{"ok": true}`` or ``{"error": "..."}``. EOF on stdin ends the agent, so an
agent never outlives the runner that feeds it (PR_SET_PDEATHSIG covers SIGKILL).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import orjson

from blockwatch.errors import BlockwatchError


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj) + b"\n")
    sys.stdout.buffer.flush()


async def command_loop(
    apply: Callable[[dict[str, Any]], None], hello: dict[str, Any] | None = None
) -> None:
    """Say ready (with ``hello``'s facts, if any), then apply each command line until EOF."""
    loop = asyncio.get_running_loop()
    emit({"ready": True, **(hello or {})})
    while True:
        line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
        if not line:
            return
        try:
            command = orjson.loads(line)
            if not isinstance(command, dict):
                raise ValueError("a command is a JSON object")
            await loop.run_in_executor(None, apply, command)
        except (ValueError, orjson.JSONDecodeError, BlockwatchError, OSError) as exc:
            emit({"error": str(exc)})
        else:
            emit({"ok": True})
