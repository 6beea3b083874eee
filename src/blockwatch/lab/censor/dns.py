"""The ISP resolver: forwards to the lab's authoritative DNS, or lies for blocked names."""

from __future__ import annotations

import asyncio

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from blockwatch.lab.censor.blockpage import BLOCKPAGE_IP

BOGON = "127.0.0.1"  # a loopback answer: never what the control sees for a lab site
UPSTREAM_TIMEOUT = 1.0
MAX_INFLIGHT = 512


def forged_answer(query: dns.message.Message, technique: str) -> bytes | None:
    """The censor's reply to a query for a blocked name (None: stay silent)."""
    if technique == "dns.timeout":
        return None
    reply = dns.message.make_response(query)
    if technique == "dns.nxdomain":
        reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply.to_wire()
    question = query.question[0]
    if question.rdtype == dns.rdatatype.A:
        addr = BLOCKPAGE_IP if technique == "dns.blockpage_ip" else BOGON
        reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", addr))
    return reply.to_wire()


class Resolver(asyncio.DatagramProtocol):
    """``rules`` maps a name to a dns.* technique; every other name is forwarded."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: dict[str, str] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(self._tasks) >= MAX_INFLIGHT:
            return  # overloaded: drop, as a real resolver would
        task = asyncio.ensure_future(self._answer(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
            name = str(query.question[0].name).rstrip(".").lower()
        except (dns.exception.DNSException, IndexError):
            return
        technique = self.rules.get(name)
        if technique is not None:
            wire = forged_answer(query, technique)
        else:
            try:
                reply = await dns.asyncquery.udp(query, self.upstream, timeout=UPSTREAM_TIMEOUT)
            except (dns.exception.DNSException, OSError):
                return
            wire = reply.to_wire()
        if wire is not None and self.transport is not None:
            self.transport.sendto(wire, addr)
