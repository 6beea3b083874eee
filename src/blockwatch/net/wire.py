"""Reads on the wire: every ``recv`` of a connection's socket, with its time and size.

A throttled HTTPS download shows nothing above TLS until a whole record (up to 16 KiB)
has crawled in, so at 64 kbit/s a two-second read window can end before the first
decrypted byte. The socket under TLS sees every segment as it comes: that is the trace
the analyzer needs to tell a policer (steady, slow) from a stall or a plain timeout.

:class:`TracedSocket` is a ``socket.socket`` whose ``recv``/``recv_into`` note each read in
a :class:`ReadTrace`; asyncio's transports call exactly those on the socket they own.
The trace keeps OONI's ``network_events`` shape (``operation: read``, ``num_bytes``, ``t``)
and marks the phases (``tls_handshake_start``/``_done``, ``http_transaction_start``/``_done``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Final

from blockwatch.net.clock import Clock

__all__ = ["MAX_READS", "ReadTrace", "TracedSocket", "traced"]

MAX_READS: Final = 48  # read samples kept per connection; neighbours merge beyond it


@dataclass(slots=True)
class ReadTrace:
    """Reads of one connection as ``[t, num_bytes]`` (bounded) and its phase marks."""

    clock: Clock
    reads: list[list[float]] = field(default_factory=list)
    marks: list[tuple[str, float]] = field(default_factory=list)
    total_bytes: int = 0

    def record(self, num_bytes: int) -> None:
        self.total_bytes += num_bytes
        self.reads.append([self.clock.now(), num_bytes])
        if len(self.reads) > MAX_READS:
            self.reads = _merged(self.reads)

    def mark(self, operation: str) -> None:
        self.marks.append((operation, self.clock.now()))

    def goodput_kbps(self, since: str = "http_transaction_start") -> float | None:
        """kbit/s of the reads after the ``since`` mark (the first read's bytes arrived
        before its time, so they do not count); None with fewer than two reads."""
        start = next((t for op, t in self.marks if op == since), float("-inf"))
        reads = [(t, n) for t, n in self.reads if t >= start and n > 0]
        if len(reads) < 2 or reads[-1][0] <= reads[0][0]:
            return None
        moved = sum(n for _, n in reads[1:])
        return round(moved * 8 / 1000 / (reads[-1][0] - reads[0][0]), 1)

    def network_events(self, transaction_id: int, address: str | None) -> list[dict[str, Any]]:
        """OONI ``network_events`` entries, in time order."""
        base = {"transaction_id": transaction_id, "address": address, "proto": "tcp"}
        events = [
            {"operation": "read", "num_bytes": int(n), "t": t, "failure": None, **base}
            for t, n in self.reads
        ]
        events += [{"operation": op, "t": t, **base} for op, t in self.marks]
        events.sort(key=lambda e: (e["t"], e["operation"] != "read"))
        return events


def _merged(reads: list[list[float]]) -> list[list[float]]:
    """Halve the samples where they are densest: each pair of neighbours in the busiest
    stretch becomes one sample at the later time. Gaps between reads (a stall) and the
    last read's time survive, since a merged sample keeps the later read's time."""
    # Merge the pair of neighbours closest in time, repeatedly, down to 3/4 of the bound:
    # amortised, a merge happens once per MAX_READS / 4 reads.
    target = MAX_READS * 3 // 4
    out = [list(r) for r in reads]
    while len(out) > target:
        i = min(range(len(out) - 1), key=lambda k: out[k + 1][0] - out[k][0])
        out[i + 1][1] += out[i][1]
        del out[i]
    return out


class TracedSocket(socket.socket):
    """A socket that notes every read in ``trace`` (set before the socket is used)."""

    trace: ReadTrace | None = None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if data and self.trace is not None and not flags & socket.MSG_PEEK:
            self.trace.record(len(data))
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        n = super().recv_into(buffer, nbytes, flags)
        if n and self.trace is not None and not flags & socket.MSG_PEEK:
            self.trace.record(n)
        return n


def traced(sock: socket.socket, trace: ReadTrace) -> TracedSocket:
    """The same connection (``sock`` is detached) as a :class:`TracedSocket` noting into
    ``trace``."""
    out = TracedSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    out.setblocking(False)
    out.trace = trace
    return out
