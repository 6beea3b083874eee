"""TCP step: connect to one ip:port within the connect timeout."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

from blockwatch.net import failures
from blockwatch.net.clock import Clock


@dataclass(slots=True)
class TCPConnect:
    """One TCP connect attempt (OONI ``tcp_connect`` entry)."""

    ip: str
    port: int
    t0: float
    t: float = 0.0
    failure: str | None = None
    blocked: bool | None = None  # set later by the comparison with the control
    transaction_id: int | None = None  # the connection's id, shared by its TLS and HTTP

    def to_ooni(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "port": self.port,
            "status": {
                "success": self.failure is None,
                "failure": self.failure,
                "blocked": self.blocked,
            },
            "t0": self.t0,
            "t": self.t,
            "transaction_id": self.transaction_id,
        }


async def tcp_connect(
    ip: str,
    port: int,
    *,
    timeout: float,
    clock: Clock,
    source_ip: str | None = None,
    transaction_id: int | None = None,
) -> tuple[TCPConnect, socket.socket | None]:
    """Connect; on success return the connected non-blocking socket (caller owns it)."""
    record = TCPConnect(ip, port, t0=clock.now(), transaction_id=transaction_id)
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        if source_ip and (":" in source_ip) == (family == socket.AF_INET6):
            sock.bind((source_ip, 0))
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (ip, port))
    except BaseException as exc:
        sock.close()
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
            raise
        record.failure = failures.failure_string(exc)
        record.t = clock.now()
        return record, None
    record.t = clock.now()
    return record, sock
