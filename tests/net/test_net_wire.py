"""Reads on the wire: a connection's socket notes every read, TLS handshake included, and
the trace stays bounded without losing the gaps that tell a stall from a policer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from blockwatch.net.clock import Clock
from blockwatch.net.endpoint import connect_endpoint
from blockwatch.net.timeouts import Timeouts
from blockwatch.net.wire import MAX_READS, ReadTrace
from blockwatch.pki import CertificateAuthority

FAST = Timeouts(dns=1, connect=1, tls=1, http=1, control=1, total=2)


async def test_a_tls_connection_traces_its_handshake_reads_between_marks(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    payload = b"z" * 50_000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(
        handle, "127.0.0.1", 0, ssl=ca.server_context(["site.test"])
    )
    port = server.sockets[0].getsockname()[1]
    try:
        conn = await connect_endpoint(
            "127.0.0.1",
            port,
            server_name="site.test",
            timeouts=FAST,
            clock=Clock(),
            transaction_id=3,
            ca_file=str(ca.cert_file),
        )
        assert conn.streams is not None and conn.reads is not None
        handshake_bytes = conn.reads.total_bytes
        assert handshake_bytes > 500  # the server's flight: certificate and all
        reader, writer = conn.streams
        writer.write(b"x")
        got = await reader.readexactly(len(payload))
        conn.close()
    finally:
        server.close()
    assert got == payload
    events = conn.network_events()
    ops = [e["operation"] for e in events]
    assert ops[0] == "tls_handshake_start" and "tls_handshake_done" in ops
    done = ops.index("tls_handshake_done")
    assert all(op == "read" for op in ops[1:done])
    assert {e["transaction_id"] for e in events} == {3}
    # Ciphertext on the wire: more than the plaintext, record overhead included.
    wire = sum(e["num_bytes"] for e in events if e["operation"] == "read")
    assert wire == conn.reads.total_bytes > handshake_bytes + len(payload)


class SetClock(Clock):
    """A clock whose time the test sets."""

    __slots__ = ("t",)

    def now(self) -> float:
        return self.t


def test_the_trace_is_bounded_and_keeps_bytes_and_the_gap_of_a_stall() -> None:
    clock = SetClock()
    trace = ReadTrace(clock)
    times = [i * 0.01 for i in range(500)] + [20.0]  # a steady run, a stall, one more read
    for t in times:
        clock.t = t
        trace.record(100)
    assert len(trace.reads) <= MAX_READS
    assert sum(n for _, n in trace.reads) == trace.total_bytes == 100 * len(times)
    last, before = trace.reads[-1][0], trace.reads[-2][0]
    assert last == 20.0 and before <= 5.0  # the stall's gap survives the merging


def test_goodput_counts_the_reads_after_the_mark_less_the_first() -> None:
    clock = SetClock()
    trace = ReadTrace(clock)
    for t, n in [(0.1, 5000), (0.2, 5000), (1.0, 999), (1.5, 1000), (2.0, 1000)]:
        clock.t = t
        if t == 1.0:
            trace.mark("http_transaction_start")
        trace.record(n)
    assert trace.goodput_kbps() == 16.0  # 2000 bytes in 1 s, the handshake left out
    assert trace.goodput_kbps(since="none such") is not None
