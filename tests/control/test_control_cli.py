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


async def test_control_serve_flags_set_the_connection_share_and_read_deadline() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "blockwatch", "control", "serve", "--host", "127.0.0.1",
        "--port", "0", "--max-connections-per-client", "1", "--read-timeout", "1.5",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    match = re.search(r"listening on http://([\d.]+):(\d+)/", line)
    assert match, line
    host, port = match.group(1), int(match.group(2))
    try:
        held_reader, held = await asyncio.open_connection(host, port)
        held.write(b"GET / HTTP/1.1\r\n")  # unfinished: holds the one connection allowed
        await held.drain()
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection(host, port)
        assert b" 503 " in (await asyncio.wait_for(reader.read(), 5)).split(b"\r\n")[0]
        writer.close()
        # ... until the read deadline cuts it off
        assert (await asyncio.wait_for(held_reader.read(), 5)).startswith(b"HTTP/1.1 408 ")
        held.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
