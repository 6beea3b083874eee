"""Fetching a URL: GET over a connection (TCP→HTTP, or TCP→TLS→HTTP), following redirects.

Used by the probe (the first hop goes over the connection it chose) and by the control helper
(every hop's addresses go through the policy's ``allow``: the SSRF guard). How a fetch behaves
is one :class:`FetchPolicy`; each connection it opens takes the next transaction id, which the
HTTP exchange over it shares (see ``blockwatch.net.endpoint``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from urllib.parse import urljoin, urlsplit

from blockwatch.net import failures
from blockwatch.net.addresses import is_ip_literal
from blockwatch.net.clock import Clock
from blockwatch.net.endpoint import Connection, connect_endpoint
from blockwatch.net.http import HTTPExchange, exchange
from blockwatch.net.tcp import TCPConnect
from blockwatch.net.timeouts import BODY_CAP, Timeouts
from blockwatch.net.tls import TLSHandshake

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchPolicy",
    "Resolve",
    "Target",
    "Trace",
    "allow_any",
    "fetch",
    "open_connection",
    "parse_target",
    "request_headers",
]

Resolve = Callable[[str], Awaitable[list[str]]]
REDIRECTS: Final = (301, 302, 303, 307, 308)
DEFAULT_HEADERS: Final = (
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US;q=0.8,en;q=0.5"),
)
DEFAULT_USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
_NOT_FORWARDED: Final = frozenset({"host", "connection", "content-length", "transfer-encoding"})


def allow_any(_ip: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How a fetch behaves: its limits, what it sends, whom it trusts and may reach."""

    timeouts: Timeouts = field(default_factory=Timeouts)
    body_cap: int = BODY_CAP
    max_redirects: int = 10
    user_agent: str = DEFAULT_USER_AGENT
    extra_headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ca_file: str | None = None  # trust only this CA bundle (None: the system store)
    source_ip: str | None = None  # bind outgoing sockets to this local address
    allow: Callable[[str], bool] = allow_any  # may this address be connected to?
    addresses_per_hop: int = 2  # addresses a redirect hop tries before giving up


@dataclass(slots=True)
class Trace:
    """Records of the connections a fetch opened itself (redirect hops), for the test keys."""

    tcp: list[TCPConnect] = field(default_factory=list)
    tls: list[TLSHandshake] = field(default_factory=list)

    def add(self, conn: Connection) -> None:
        self.tcp.append(conn.tcp)
        if conn.tls is not None:
            self.tls.append(conn.tls)


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

    @property
    def server_name(self) -> str | None:
        """The TLS SNI to send (None: cleartext)."""
        return self.host if self.scheme == "https" else None


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


def request_headers(
    target: Target, user_agent: str, extra: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """A browser-like GET's headers; ``extra`` cannot override framing or Host."""
    headers = [("Host", target.host_header), ("User-Agent", user_agent), *DEFAULT_HEADERS]
    for key, value in (extra or {}).items():
        if key.lower() not in _NOT_FORWARDED:
            headers.append((key, value))
    headers.append(("Connection", "close"))
    return headers


async def open_connection(
    target: Target,
    addresses: list[str],
    policy: FetchPolicy,
    *,
    clock: Clock,
    ids: Iterator[int],
    trace: Trace | None = None,
) -> tuple[Connection | None, str | None]:
    """Connect (and handshake) to the first of ``addresses`` that works, trying at most
    ``policy.addresses_per_hop``: (the connection, None) or (None, the last failure)."""
    failure: str | None = failures.DNS_NO_ANSWER
    for ip in addresses[: policy.addresses_per_hop]:
        conn = await connect_endpoint(
            ip,
            target.port,
            server_name=target.server_name,
            timeouts=policy.timeouts,
            clock=clock,
            transaction_id=next(ids),
            ca_file=policy.ca_file,
            source_ip=policy.source_ip,
        )
        if trace is not None:
            trace.add(conn)
        if conn.streams is not None:
            return conn, None
        failure = conn.failure
    return None, failure


async def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    resolve: Resolve,
    clock: Clock,
    ids: Iterator[int],
    first: Connection | None = None,
    first_failure: str | None = None,
    trace: Trace | None = None,
    deadline: float | None = None,
) -> list[HTTPExchange]:
    """GET ``url`` following up to ``policy.max_redirects`` redirects; exchanges in order.

    ``first`` is a connection the caller already opened for the first hop; when it is None
    and ``first_failure`` is set, the first hop is recorded as failed with it. Connections
    the fetch opens itself take their transaction ids from ``ids`` (and go to ``trace``).
    ``deadline`` (``clock`` time) ends every exchange by then, so a caller's own deadline
    just after it never cancels a transfer whose partial record (and trace) is evidence.
    """
    hops: list[HTTPExchange] = []
    current = url
    for hop in range(policy.max_redirects + 1):
        target = parse_target(current)
        t0 = clock.now()
        if hop == 0 and (first is not None or first_failure is not None):
            conn, failure = first, first_failure
        else:
            conn, failure = await _connect_hop(target, policy, resolve, clock, ids, trace)
        record = HTTPExchange(
            url=current,
            method="GET",
            request_headers=request_headers(target, policy.user_agent, policy.extra_headers),
            transaction_id=conn.transaction_id if conn is not None else next(ids),
            t0=t0,
        )
        hops.append(record)
        if conn is None or conn.streams is None:
            record.failure = failure
            record.t = clock.now()
            break
        record.address = conn.address
        record.trace = conn.reads
        http_timeout = policy.timeouts.http
        if deadline is not None:
            http_timeout = max(0.0, min(http_timeout, deadline - clock.now()))
        await exchange(
            *conn.streams,
            record,
            target=target.path,
            timeout=http_timeout,
            body_cap=policy.body_cap,
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
    policy: FetchPolicy,
    resolve: Resolve,
    clock: Clock,
    ids: Iterator[int],
    trace: Trace | None,
) -> tuple[Connection | None, str | None]:
    if is_ip_literal(target.host):
        addresses = [target.host.strip("[]")]
    else:
        try:
            addresses = await resolve(target.host)
        except Exception as exc:
            return None, failures.failure_string(exc)
    if not addresses:
        return None, failures.DNS_NO_ANSWER
    allowed = [a for a in addresses if policy.allow(a)]
    if not allowed:
        return None, failures.PRIVATE_TARGET
    return await open_connection(target, allowed, policy, clock=clock, ids=ids, trace=trace)
