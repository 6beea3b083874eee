"""One connection to one endpoint: TCP, then TLS with SNI when asked, under one transaction id.

As measurexlite traces do, every record of a connection (its TCP connect, its TLS handshake,
and the HTTP exchange that later goes over it) carries the same transaction id, so an analyzer
can tell which request went over which connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from blockwatch.net.addresses import endpoint
from blockwatch.net.clock import Clock
from blockwatch.net.tcp import TCPConnect, tcp_connect
from blockwatch.net.timeouts import Timeouts
from blockwatch.net.tls import TLSHandshake, cleartext_streams, tls_handshake
from blockwatch.net.wire import ReadTrace, traced

__all__ = ["Connection", "Streams", "connect_endpoint"]

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(slots=True)
class Connection:
    """What connecting to one endpoint gave: the records, and the streams when it worked."""

    transaction_id: int
    tcp: TCPConnect
    tls: TLSHandshake | None = None  # None: cleartext, or TCP failed first
    streams: Streams | None = None  # the caller owns them (close() when not used)
    reads: ReadTrace | None = None  # every read on the socket (TLS handshake, then HTTP)

    @property
    def address(self) -> str:
        """OONI's "ip:port" of the endpoint."""
        return endpoint(self.tcp.ip, self.tcp.port)

    @property
    def failure(self) -> str | None:
        """Why there are no streams (the TLS failure, else the TCP one); None when connected."""
        if self.tls is not None and self.tls.failure is not None:
            return self.tls.failure
        return self.tcp.failure

    def network_events(self) -> list[dict[str, Any]]:
        """OONI ``network_events`` of this connection: its reads and phase marks."""
        if self.reads is None:
            return []
        return self.reads.network_events(self.transaction_id, self.address)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].transport.abort()
            self.streams = None


async def connect_endpoint(
    ip: str,
    port: int,
    *,
    server_name: str | None,
    timeouts: Timeouts,
    clock: Clock,
    transaction_id: int,
    ca_file: str | None = None,
    source_ip: str | None = None,
) -> Connection:
    """Connect to ``ip:port`` and, when ``server_name`` is given, handshake TLS with it as SNI
    (verified against ``ca_file`` or the system store); never raises for a network failure."""
    tcp, sock = await tcp_connect(
        ip,
        port,
        timeout=timeouts.connect,
        clock=clock,
        source_ip=source_ip,
        transaction_id=transaction_id,
    )
    conn = Connection(transaction_id, tcp)
    if sock is None:
        return conn
    reads = conn.reads = ReadTrace(clock)
    wire = traced(sock, reads)
    if server_name is None:
        conn.streams = await cleartext_streams(wire)
        return conn
    reads.mark("tls_handshake_start")
    conn.tls, conn.streams = await tls_handshake(
        wire,
        server_name,
        timeout=timeouts.tls,
        clock=clock,
        ca_file=ca_file,
        transaction_id=transaction_id,
    )
    reads.mark("tls_handshake_done")
    return conn
