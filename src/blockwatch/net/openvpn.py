"""OpenVPN step: the control channel's first exchange, a hard reset answered by the server.

The client sends ``P_CONTROL_HARD_RESET_CLIENT_V2`` (opcode 7, key id 0, a random session id,
no acks, packet id 0); a server configured without tls-auth/tls-crypt answers with
``P_CONTROL_HARD_RESET_SERVER_V2`` (opcode 8). Over TCP every packet carries a two-byte length
prefix. This is the handshake a DPI box fingerprints, so its answer is the reachability
signal; the TLS that follows is not attempted (no credentials needed).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from blockwatch.net import failures
from blockwatch.net.addresses import endpoint
from blockwatch.net.clock import Clock
from blockwatch.net.tcp import TCPConnect, tcp_connect

__all__ = [
    "HARD_RESET_CLIENT_V2",
    "HARD_RESET_SERVER_V2",
    "OpenVPNHandshake",
    "client_hard_reset",
    "opcode_of",
    "openvpn_handshake",
]

HARD_RESET_CLIENT_V2: Final = 7
HARD_RESET_SERVER_V2: Final = 8
OPCODE_NAMES: Final = {
    1: "P_CONTROL_HARD_RESET_CLIENT_V1",
    2: "P_CONTROL_HARD_RESET_SERVER_V1",
    3: "P_CONTROL_SOFT_RESET_V1",
    4: "P_CONTROL_V1",
    5: "P_ACK_V1",
    6: "P_DATA_V1",
    7: "P_CONTROL_HARD_RESET_CLIENT_V2",
    8: "P_CONTROL_HARD_RESET_SERVER_V2",
    9: "P_DATA_V2",
    10: "P_CONTROL_HARD_RESET_CLIENT_V3",
    11: "P_CONTROL_WKC_V1",
}
UDP_TRIES: Final = 3  # a datagram may be lost: resend within the one timeout
READ_CAP: Final = 2048


@dataclass(slots=True)
class OpenVPNHandshake:
    """One hard-reset exchange (an entry of OONI's ``openvpn_handshake``)."""

    ip: str
    port: int
    transport: str  # "tcp" | "udp"
    provider: str
    t0: float
    t: float = 0.0
    failure: str | None = None
    transaction_id: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"openvpn://{endpoint(self.ip, self.port)}/{self.transport}"

    def to_ooni(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "failure": self.failure,
            "ip": self.ip,
            "port": self.port,
            "transport": self.transport,
            "provider": self.provider,
            "openvpn_options": {},
            "handshake_time": round(self.t - self.t0, 6),
            "t0": self.t0,
            "t": self.t,
            "tags": [],
            "transaction_id": self.transaction_id,
        }

    def event(self, clock: Clock, operation: str, opcode: int, size: int) -> None:
        """Record one packet (OONI's ``packet_out`` / ``packet_in``)."""
        self.events.append(
            {
                "operation": operation,
                "stage": "PRE_START" if operation == "packet_out" else "START",
                "t": clock.now(),
                "tags": [],
                "packet": {
                    "operation": "write" if operation == "packet_out" else "read",
                    "opcode": OPCODE_NAMES.get(opcode, f"UNKNOWN_{opcode}"),
                    "id": 0,
                    "acks": None,
                    "payload_size": size,
                },
                "transaction_id": self.transaction_id,
            }
        )


def client_hard_reset(session_id: bytes) -> bytes:
    """The client's hard reset: opcode/key id, session id, empty ack array, packet id 0."""
    return bytes([HARD_RESET_CLIENT_V2 << 3]) + session_id + b"\x00" + struct.pack("!I", 0)


def opcode_of(packet: bytes) -> int | None:
    """The opcode of one control packet (without the TCP length prefix)."""
    return packet[0] >> 3 if packet else None


async def openvpn_handshake(
    ip: str,
    port: int,
    transport: str,
    *,
    timeout: float,
    connect_timeout: float,
    clock: Clock,
    provider: str = "unknown",
    transaction_id: int | None = None,
    source_ip: str | None = None,
) -> tuple[TCPConnect | None, OpenVPNHandshake]:
    """Send the hard reset and wait for the server's; never raises for a network failure."""
    if transport not in ("tcp", "udp"):
        raise ValueError(f"transport must be tcp or udp, not {transport!r}")
    hello = client_hard_reset(secrets.token_bytes(8))
    tcp: TCPConnect | None = None
    sock: socket.socket | None
    if transport == "tcp":
        tcp, sock = await tcp_connect(
            ip,
            port,
            timeout=connect_timeout,
            clock=clock,
            source_ip=source_ip,
            transaction_id=transaction_id,
        )
    else:
        sock = _udp_socket(ip, source_ip)
    record = OpenVPNHandshake(ip, port, transport, provider, clock.now())
    record.transaction_id = transaction_id
    if sock is None:
        record.failure = tcp.failure if tcp is not None else "unknown_failure"
        record.t = clock.now()
        return tcp, record
    try:
        async with asyncio.timeout(timeout):
            if transport == "tcp":
                reply = await _tcp_exchange(sock, hello, record, clock)
            else:
                reply = await _udp_exchange(sock, (ip, port), hello, record, clock, timeout)
        code = opcode_of(reply)
        record.event(clock, "packet_in", code or 0, len(reply))
        if code != HARD_RESET_SERVER_V2:
            record.failure = f"unknown_failure: unexpected opcode {code}"
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
            raise
        record.failure = failures.failure_string(exc)
    finally:
        sock.close()
    record.t = clock.now()
    return tcp, record


def _udp_socket(ip: str, source_ip: str | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    if source_ip and (":" in source_ip) == (family == socket.AF_INET6):
        sock.bind((source_ip, 0))
    return sock


async def _tcp_exchange(
    sock: socket.socket, hello: bytes, record: OpenVPNHandshake, clock: Clock
) -> bytes:
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, struct.pack("!H", len(hello)) + hello)
    record.event(clock, "packet_out", HARD_RESET_CLIENT_V2, len(hello))
    head = await _recv_exactly(sock, 2)
    (size,) = struct.unpack("!H", head)
    if not 0 < size <= READ_CAP:
        raise ValueError(f"a {size}-byte OpenVPN packet")
    return await _recv_exactly(sock, size)


async def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < n:
        chunk = await loop.sock_recv(sock, n - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


async def _udp_exchange(
    sock: socket.socket,
    address: tuple[str, int],
    hello: bytes,
    record: OpenVPNHandshake,
    clock: Clock,
    timeout: float,
) -> bytes:
    loop = asyncio.get_running_loop()
    sock.connect(address)  # connected: an ICMP unreachable surfaces as a refused recv
    for attempt in range(UDP_TRIES):
        await loop.sock_sendall(sock, hello)
        record.event(clock, "packet_out", HARD_RESET_CLIENT_V2, len(hello))
        try:
            async with asyncio.timeout(timeout / UDP_TRIES):
                return await loop.sock_recv(sock, READ_CAP)
        except TimeoutError:
            if attempt == UDP_TRIES - 1:
                raise
    raise TimeoutError  # unreachable: the loop returns or raises
