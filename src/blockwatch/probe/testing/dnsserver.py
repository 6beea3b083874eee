"""A DNS-over-UDP server the tests control: per-name answers, NXDOMAIN, silence, garbage."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

# What a name gets: a list of addresses, or one of these behaviours.
NXDOMAIN = "nxdomain"
SERVFAIL = "servfail"
SILENT = "silent"  # never answers: the probe must time out
GARBAGE = "garbage"  # random bytes instead of a DNS message
HUGE = "huge"  # a maximal UDP datagram of answers


@dataclass
class DNSServer:
    """``await DNSServer(zone, "127.0.0.53").start()``; unknown names get NXDOMAIN."""

    zone: dict[str, list[str] | str]
    host: str = "127.0.0.1"
    port: int = 0
    queries: list[tuple[str, str]] = field(default_factory=list)
    _transport: asyncio.DatagramTransport | None = None
    _questions: dict[bytes, tuple[str, str]] = field(default_factory=dict)
    _replies: dict[tuple[bytes, str], bytes] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> DNSServer:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, self.port)
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def answer(self, wire: bytes) -> bytes | None:
        # Replies are cached by question and rule (everything after the 2-byte id), so a
        # benchmark measures the probe, not dnspython building the same answer again.
        question = self._questions.get(wire[2:])
        if question is None:
            try:
                query = dns.message.from_wire(wire)
            except Exception:
                return None
            q = query.question[0]
            question = (str(q.name).rstrip(".").lower(), dns.rdatatype.to_text(q.rdtype))
            self._questions[wire[2:]] = question
        name, qtype = question
        self.queries.append(question)
        rule = self.zone.get(name, NXDOMAIN)
        if rule == SILENT:
            return None
        if rule == GARBAGE:
            return wire[:2] + os.urandom(40)  # right id, nonsense after it
        key = (wire[2:], repr(rule))
        if key not in self._replies:
            self._replies[key] = self._build(dns.message.from_wire(wire), qtype, rule)[2:]
        return wire[:2] + self._replies[key]

    @staticmethod
    def _build(query: dns.message.Message, qtype: str, rule: list[str] | str) -> bytes:
        question = query.question[0]
        reply = dns.message.make_response(query)
        if rule == NXDOMAIN:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply.to_wire()
        if rule == SERVFAIL:
            reply.set_rcode(dns.rcode.SERVFAIL)
            return reply.to_wire()
        if rule == HUGE:
            addrs = [f"127.{i // 250 % 250}.{i % 250}.1" for i in range(1000)]
            if qtype != "A":
                return reply.to_wire()
            reply.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "A", addrs))
            return reply.to_wire()[:65000]
        assert isinstance(rule, list)
        wanted = [a for a in rule if (":" in a) == (qtype == "AAAA")]
        if qtype in ("A", "AAAA") and wanted:
            reply.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", qtype, wanted))
        # dnspython shuffles records by default; tests rely on the zone's order.
        return reply.to_wire(want_shuffle=False)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)
