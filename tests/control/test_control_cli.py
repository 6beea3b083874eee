"""`blockwatch control serve` as a process: it says where it listens, answers, and stops on
SIGTERM with status 0."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

from blockwatch.probe.control_client import health
from blockwatch.probe.testing.loopnet import PROBE_TIMEOUTS


async def test_control_serve_listens_answers_health_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "blockwatch", "control", "serve", "--host", "127.0.0.1",
        "--port", "0", stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    match = re.search(r"listening on (http://\S+)", line)
    assert match, line
    try:
        assert await health(match.group(1), timeouts=PROBE_TIMEOUTS)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
