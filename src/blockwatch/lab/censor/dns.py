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
CACHE_SECONDS = 60.0  # wall-clock: the authority's zone never changes during a run
MAX_CACHE = 4096


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
        # Like any ISP resolver it caches, which also keeps rounds fast.
        self._cache: dict[tuple[str, int], tuple[float, bytes]] = {}

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
        key = (name, query.question[0].rdtype)
        loop = asyncio.get_running_loop()
        cached = self._cache.get(key)
        if technique is not None:
            wire = forged_answer(query, technique)
        elif cached is not None and cached[0] > loop.time():
            wire = data[:2] + cached[1][2:]  # the cached reply under this query's id
        else:
            try:
                reply = await dns.asyncquery.udp(query, self.upstream, timeout=UPSTREAM_TIMEOUT)
            except (dns.exception.DNSException, OSError):
                return
            wire = reply.to_wire()
            if len(self._cache) >= MAX_CACHE:
                self._cache.clear()
            self._cache[key] = (loop.time() + CACHE_SECONDS, wire)
        if wire is not None and self.transport is not None:
            self.transport.sendto(wire, addr)
