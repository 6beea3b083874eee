"""Flows compose steps: TCP→HTTP (cleartext) or TCP→TLS→HTTP (secure), following redirects.

Used by the probe (first hop over the connection it chose) and by the control helper
(every hop checked against its address policy, the SSRF guard).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from blockwatch.probe import failures
from blockwatch.probe.addresses import endpoint, is_ip_literal
from blockwatch.probe.clock import Clock
from blockwatch.probe.config import Timeouts
from blockwatch.probe.http import HTTPExchange, exchange
from blockwatch.probe.tcp import TCPConnect, tcp_connect
from blockwatch.probe.tls import TLSHandshake, cleartext_streams, tls_handshake

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Resolve = Callable[[str], Awaitable[list[str]]]
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_HEADERS = (
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US;q=0.8,en;q=0.5"),
)


@dataclass(slots=True)
class Trace:
    """Records of the connections a fetch opened itself (redirect hops), for the test keys."""

    tcp: list[TCPConnect] = field(default_factory=list)
    tls: list[TLSHandshake] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed URL: what to connect to and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """Parse an http(s) URL; raises ValueError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url.strip(), parts.scheme, parts.hostname.lower(), port, path)


def request_headers(target: Target, user_agent: str, extra: dict[str, str] | None = None):
    headers = [("Host", target.host_header), ("User-Agent", user_agent), *DEFAULT_HEADERS]
    for key, value in (extra or {}).items():
        if key.lower() not in ("host", "connection", "content-length", "transfer-encoding"):
            headers.append((key, value))
    headers.append(("Connection", "close"))
    return headers


async def open_streams(
    target: Target,
    addresses: list[str],
    *,
    timeouts: Timeouts,
    clock: Clock,
    ca_file: str | None,
    source_ip: str | None = None,
    trace: Trace | None = None,
) -> tuple[Streams | None, str | None, str | None]:
    """Connect (and handshake) to the first address that works: (streams, address, failure)."""
    failure: str | None = failures.DNS_NO_ANSWER
    for ip in addresses[:2]:
        tcp, sock = await tcp_connect(
            ip, target.port, timeout=timeouts.connect, clock=clock, source_ip=source_ip
        )
        if trace is not None:
            trace.tcp.append(tcp)
        if sock is None:
            failure = tcp.failure
            continue
        if target.scheme == "https":
            tls, streams = await tls_handshake(
                sock, target.host, timeout=timeouts.tls, clock=clock, ca_file=ca_file
            )
            if trace is not None:
                trace.tls.append(tls)
            if streams is None:
                failure = tls.failure
                continue
            return streams, endpoint(ip, target.port), None
        return await cleartext_streams(sock), endpoint(ip, target.port), None
    return None, None, failure


async def fetch(
    url: str,
    *,
    resolve: Resolve,
    allow: Callable[[str], bool],
    timeouts: Timeouts,
    clock: Clock,
    body_cap: int,
    max_redirects: int,
    user_agent: str,
    ca_file: str | None = None,
    first: tuple[Streams, str] | None = None,
    first_failure: str | None = None,
    extra_headers: dict[str, str] | None = None,
    source_ip: str | None = None,
    ids: itertools.count | None = None,
    trace: Trace | None = None,
) -> list[HTTPExchange]:
    """GET ``url`` following up to ``max_redirects`` redirects; exchanges in order.

    ``first`` is a connection the caller already opened for the first hop; when it is None
    and ``first_failure`` is set, the first hop is recorded as failed with it.
    """
    ids = ids or itertools.count(1)
    hops: list[HTTPExchange] = []
    current = url
    for hop in range(max_redirects + 1):
        target = parse_target(current)
        record = HTTPExchange(
            url=current,
            method="GET",
            request_headers=request_headers(target, user_agent, extra_headers),
            transaction_id=next(ids),
            t0=clock.now(),
        )
        hops.append(record)
        if hop == 0 and (first is not None or first_failure is not None):
            streams, address = first if first is not None else (None, None)
            failure = first_failure
        else:
            streams, address, failure = await _connect_hop(
                target, resolve, allow, timeouts, clock, ca_file, source_ip, trace
            )
        record.address = address
        if streams is None:
            record.failure = failure
            record.t = clock.now()
            break
        await exchange(
            *streams,
            record,
            target=target.path,
            timeout=timeouts.http,
            body_cap=body_cap,
            clock=clock,
        )
        location = record.header("Location")
        if record.failure or record.status_code not in REDIRECTS or not location:
            break
        try:
            current = urljoin(current, location)
            parse_target(current)
        except ValueError:
            break
    return hops


async def _connect_hop(
    target: Target,
    resolve: Resolve,
    allow: Callable[[str], bool],
    timeouts: Timeouts,
    clock: Clock,
    ca_file: str | None,
    source_ip: str | None,
    trace: Trace | None,
) -> tuple[Streams | None, str | None, str | None]:
    if is_ip_literal(target.host):
        addresses = [target.host.strip("[]")]
    else:
        try:
            addresses = await resolve(target.host)
        except Exception as exc:
            return None, None, failures.failure_string(exc)
    if not addresses:
        return None, None, failures.DNS_NO_ANSWER
    allowed = [a for a in addresses if allow(a)]
    if not allowed:
        return None, None, failures.PRIVATE_TARGET
    return await open_streams(
        target,
        allowed,
        timeouts=timeouts,
        clock=clock,
        ca_file=ca_file,
        source_ip=source_ip,
        trace=trace,
    )
