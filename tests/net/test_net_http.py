"""The HTTP step on raw loopback servers: chunked bodies, the cap, partial bodies."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from blockwatch.net.clock import Clock
from blockwatch.net.http import HTTPExchange, exchange
from blockwatch.net.wire import ReadTrace, traced


@asynccontextmanager
async def server(response: bytes, then_wait: float = 0.0) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        await writer.drain()
        await asyncio.sleep(then_wait)
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()


async def get(port: int, cap: int, timeout: float = 2.0) -> HTTPExchange:
    clock = Clock()
    sock = socket.create_connection(("127.0.0.1", port))
    trace = ReadTrace(clock)
    reader, writer = await asyncio.open_connection(sock=traced(sock, trace))
    record = HTTPExchange("http://t.test/", "GET", [("Host", "t.test")], 1, 0.0, trace=trace)
    return await exchange(
        reader, writer, record, target="/", timeout=timeout, body_cap=cap, clock=clock
    )


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
)


async def test_chunked_body_is_decoded() -> None:
    async with server(CHUNKED) as port:
        record = await get(port, cap=1000)
    assert record.failure is None and record.body == b"hello, world"
    assert record.body_is_truncated is False


async def test_chunked_body_is_cut_at_the_cap() -> None:
    async with server(CHUNKED) as port:
        record = await get(port, cap=8)
    assert record.body == b"hello, w" and record.body_is_truncated is True


async def test_body_of_exactly_the_cap_is_not_truncated_one_more_byte_is() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    async with server(head + b"0123456789") as port:
        exact = await get(port, cap=10)
    async with server(head + b"0123456789") as port:
        over = await get(port, cap=9)
    assert (exact.body, exact.body_is_truncated) == (b"0123456789", False)
    assert (over.body, over.body_is_truncated) == (b"012345678", True)


async def test_body_that_stalls_keeps_what_arrived_and_times_out() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    async with server(head + b"partial", then_wait=1) as port:
        record = await get(port, cap=1000, timeout=0.5)
    assert record.failure == "generic_timeout_error"
    assert record.status_code == 200 and record.body == b"partial"
    events = record.network_events()
    reads = [e for e in events if e["operation"] == "read"]
    # The head and the partial body, as they came on the wire; the trace survives the timeout.
    assert sum(e["num_bytes"] for e in reads) == len(head) + 7
    assert events[0]["operation"] == "http_transaction_start"
    assert events[-1]["operation"] == "http_transaction_done"
    assert events[-1]["t"] - reads[-1]["t"] >= 0.4  # the stall before the timeout shows


async def test_garbage_status_line_is_a_failure_not_a_crash() -> None:
    async with server(b"SSH-2.0-OpenSSH\r\n\r\n") as port:
        record = await get(port, cap=1000)
    assert record.failure is not None and record.status_code is None


async def test_endless_response_head_is_refused_at_the_head_cap() -> None:
    async with server(b"HTTP/1.1 200 OK\r\nX-Junk: " + b"a" * 200_000) as port:
        record = await get(port, cap=1000)
    assert record.failure is not None and "head too long" in record.failure
    assert record.body == b""
