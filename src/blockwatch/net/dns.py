"""DNS step: the system resolver (getaddrinfo) and a direct DNS-over-UDP query (dnspython).

Each lookup returns one :class:`DNSQuery` with OONI's fields (engine, resolver, answers,
rcode, failure, t0, t). Nothing raises: a failed lookup is a record with a failure string.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from blockwatch.net import failures
from blockwatch.net.addresses import endpoint
from blockwatch.net.clock import Clock

MAX_ANSWERS = 64  # a hostile resolver must not blow up the record
AsnLookup = Callable[[str], tuple[int, str | None]]

_RCODE_FAILURE = {
    dns.rcode.NXDOMAIN: failures.DNS_NXDOMAIN,
    dns.rcode.SERVFAIL: failures.DNS_SERVFAIL,
    dns.rcode.REFUSED: failures.DNS_REFUSED,
}


@dataclass(slots=True)
class DNSQuery:
    """One DNS lookup as OONI records it."""

    engine: str  # "system" (getaddrinfo) or "udp"
    hostname: str
    query_type: str  # "A", "AAAA", or "ANY" for getaddrinfo
    resolver_address: str | None
    t0: float
    t: float = 0.0
    failure: str | None = None
    rcode: int | None = None
    addresses: list[str] = field(default_factory=list)
    cnames: list[str] = field(default_factory=list)

    def to_ooni(self, asn_of: AsnLookup | None = None) -> dict[str, Any]:
        answers: list[dict[str, Any]] = []
        for addr in self.addresses:
            asn, org = asn_of(addr) if asn_of else (0, None)
            kind = "AAAA" if ":" in addr else "A"
            answers.append(
                {
                    "answer_type": kind,
                    "ipv6" if kind == "AAAA" else "ipv4": addr,
                    "asn": asn,
                    "as_org_name": org,
                    "ttl": None,
                }
            )
        answers.extend({"answer_type": "CNAME", "hostname": c, "ttl": None} for c in self.cnames)
        return {
            "engine": self.engine,
            "hostname": self.hostname,
            "query_type": self.query_type,
            "resolver_address": self.resolver_address,
            "resolver_hostname": None,
            "resolver_port": None,
            "answers": answers or None,
            "rcode": self.rcode,
            "failure": self.failure,
            "t0": self.t0,
            "t": self.t,
        }


# getaddrinfo blocks a thread, and the C library keeps retrying after our deadline (a
# dropped query holds its thread for ~10 s). A dedicated pool keeps that away from
# asyncio's default executor; a lookup that never got a thread is not an observation.
_GAI_POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="getaddrinfo")


async def system_lookup(hostname: str, *, timeout: float, clock: Clock) -> DNSQuery | None:
    """Resolve with the OS resolver (getaddrinfo), as a user's browser would.

    The timeout runs from the moment a thread starts the lookup; None when no thread
    was free within ``timeout`` (our own congestion, not the network's doing).
    """
    loop = asyncio.get_running_loop()
    began = asyncio.Event()

    def work() -> list[Any]:
        loop.call_soon_threadsafe(began.set)
        return socket.getaddrinfo(hostname, 443, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)

    job = loop.run_in_executor(_GAI_POOL, work)
    try:
        async with asyncio.timeout(timeout):
            await began.wait()
    except TimeoutError:
        job.cancel()
        return None
    query = DNSQuery("system", hostname, "ANY", None, t0=clock.now())
    try:
        async with asyncio.timeout(timeout):
            infos = await job
        seen: list[str] = []
        for info in infos:
            addr = str(info[4][0])
            if addr not in seen:
                seen.append(addr)
        query.addresses = seen[:MAX_ANSWERS]
        if not seen:
            query.failure = failures.DNS_NO_ANSWER
    except Exception as exc:
        query.failure = failures.failure_string(exc)
    query.t = clock.now()
    return query


async def udp_lookup(
    hostname: str,
    qtype: str,
    resolver: tuple[str, int],
    *,
    timeout: float,
    clock: Clock,
    source_ip: str | None = None,
) -> DNSQuery:
    """Ask one resolver directly over UDP; the first reply counts, as OONI's does."""
    ip, port = resolver
    query = DNSQuery("udp", hostname, qtype, endpoint(ip, port), t0=clock.now())
    try:
        message = dns.message.make_query(hostname, qtype, want_dnssec=False)
        message.flags |= dns.flags.RD
        wire = await _exchange(message.to_wire(), ip, port, timeout, source_ip)
        reply = dns.message.from_wire(wire, ignore_trailing=True)
        query.rcode = reply.rcode()
        if query.rcode in _RCODE_FAILURE:
            query.failure = _RCODE_FAILURE[query.rcode]
        elif query.rcode != dns.rcode.NOERROR:
            query.failure = failures.DNS_MISBEHAVING
        else:
            wanted = dns.rdatatype.from_text(qtype)
            for rrset in reply.answer:
                for rdata in rrset:
                    if rrset.rdtype == wanted and len(query.addresses) < MAX_ANSWERS:
                        query.addresses.append(rdata.address)
                    elif rrset.rdtype == dns.rdatatype.CNAME and len(query.cnames) < 8:
                        query.cnames.append(str(rdata.target).rstrip("."))
            if not query.addresses:
                query.failure = failures.DNS_NO_ANSWER
    except Exception as exc:
        query.failure = failures.failure_string(exc)
    query.t = clock.now()
    return query


async def _exchange(
    query: bytes, ip: str, port: int, timeout: float, source_ip: str | None
) -> bytes:
    """Send one datagram and return the first reply carrying our query id.

    A connected UDP socket: the kernel drops datagrams from other sources and reports
    ICMP unreachable as ECONNREFUSED. Replies are at most 64 KiB (one datagram).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        if source_ip and (":" in source_ip) == (family == socket.AF_INET6):
            sock.bind((source_ip, 0))
        sock.connect((ip, port))
        async with asyncio.timeout(timeout):
            await loop.sock_sendall(sock, query)
            while True:
                data = await loop.sock_recv(sock, 65535)
                if data[:2] == query[:2]:
                    return data
    finally:
        sock.close()


async def lookup_all(
    hostname: str,
    *,
    resolver: tuple[str, int] | None,
    system: bool,
    timeout: float,
    clock: Clock,
    source_ip: str | None = None,
) -> list[DNSQuery]:
    """The probe's DNS phase: getaddrinfo and UDP A/AAAA queries, concurrently."""
    jobs = []
    if system:
        jobs.append(system_lookup(hostname, timeout=timeout, clock=clock))
    if resolver is not None:
        for qtype in ("A", "AAAA"):
            jobs.append(
                udp_lookup(
                    hostname, qtype, resolver, timeout=timeout, clock=clock, source_ip=source_ip
                )
            )
    return [q for q in await asyncio.gather(*jobs) if q is not None]


def addresses_of(queries: list[DNSQuery]) -> list[str]:
    """Every distinct address the lookups returned, IPv4 first, in answer order."""
    out: list[str] = []
    for q in queries:
        for addr in q.addresses:
            if addr not in out:
                out.append(addr)
    return sorted(out, key=lambda a: ":" in a)


def dns_failure(queries: list[DNSQuery]) -> str | None:
    """OONI's ``dns_experiment_failure``: the failure when no lookup returned an address."""
    if any(q.addresses for q in queries) or not queries:
        return None
    for q in queries:
        if q.failure == failures.DNS_NXDOMAIN:
            return q.failure
    for q in queries:
        if q.query_type != "AAAA" and q.failure:
            return q.failure
    return queries[0].failure
