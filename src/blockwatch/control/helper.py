"""The control measurement: what an uncensored vantage sees for a URL (OONI test helper).

It fetches URLs for strangers, so every address it would touch goes through
:meth:`Helper.allowed`: the probe's endpoints, the helper's own DNS answers, an IP in the URL
and every redirect hop (resolved or literal). Anything not public by the IANA tables of
:mod:`blockwatch.net.ranges` (loopback, private, link-local, IPv6 forms wrapping such an IPv4
address...) is refused unless ``allow_private`` (the lab). The address checked is the
address connected to: nothing is resolved twice.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from blockwatch.errors import ControlError
from blockwatch.net import dns as dnsstep
from blockwatch.net import failures
from blockwatch.net.addresses import (
    endpoint,
    is_bogon,
    is_ip_literal,
    is_public,
    parse_host_port,
    split_endpoint,
)
from blockwatch.net.clock import Clock
from blockwatch.net.endpoint import Connection, connect_endpoint
from blockwatch.net.flows import FetchPolicy, Target, fetch, parse_target
from blockwatch.net.geoip import AsnDatabase
from blockwatch.net.http import HTTPExchange
from blockwatch.net.timeouts import Timeouts

__all__ = ["Helper", "HelperConfig", "validate"]

FLAG_RESOLVED_BY_PROBE: Final = 1
FLAG_RESOLVED_BY_TH: Final = 2
FLAG_BOGON: Final = 4
FLAG_VALID_FOR_DOMAIN: Final = 8
_FORWARDED_HEADERS: Final = ("user-agent", "accept", "accept-language")
# Sent when a control request carries no User-Agent (probes always send theirs).
DEFAULT_UA: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537"
)


@dataclass(frozen=True, slots=True)
class HelperConfig:
    """Caps and policy of the control helper."""

    allow_private: bool = False
    allow_addresses: tuple[str, ...] = ()  # exceptions to the guard (an operator's own origin)
    resolver: str | None = None  # "ip[:port]" for DNS over UDP; None: getaddrinfo
    timeouts: Timeouts = field(
        default_factory=lambda: Timeouts(dns=4, connect=5, tls=5, http=10, total=30)
    )
    body_cap: int = 1 << 20
    max_redirects: int = 10
    max_endpoints: int = 16
    max_concurrent: int = 32
    max_request_bytes: int = 1 << 16
    max_connections: int = 512  # open at once, all clients together
    # One client's share (an IPv4 address, an IPv6 /64): a probe at --concurrency 64 fits,
    # and one client can hold at most an eighth of max_connections.
    max_connections_per_client: int = 64
    read_timeout: float = 10.0  # to read a request's head and body, together, from accept
    ca_file: str | None = None
    geoip_db: str | None = None


@dataclass(slots=True)
class _Checked:
    """One endpoint the helper checked: its control entries, and the connection if it worked."""

    key: str  # "ip:port"
    tcp: dict[str, Any]
    tls: dict[str, Any] | None = None
    conn: Connection | None = None


class Helper:
    """Answers control requests: ``await helper.handle(payload) -> response``."""

    def __init__(self, config: HelperConfig | None = None) -> None:
        self.config = config or HelperConfig()
        self.asn_db = AsnDatabase(self.config.geoip_db) if self.config.geoip_db else None
        try:
            self._resolver = (
                parse_host_port(self.config.resolver, 53) if self.config.resolver else None
            )
        except ValueError as exc:
            raise ControlError(f"resolver: {exc}") from exc

    def allowed(self, ip: str) -> bool:
        return self.config.allow_private or is_public(ip) or ip in self.config.allow_addresses

    async def resolve(self, host: str, clock: Clock) -> tuple[list[str], str | None]:
        t = self.config.timeouts
        queries = await dnsstep.lookup_all(
            host, resolver=self._resolver, system=self._resolver is None, timeout=t.dns, clock=clock
        )
        return dnsstep.addresses_of(queries), dnsstep.dns_failure(queries)

    async def handle(self, payload: Any) -> dict[str, Any]:
        """The control response for one request; raises ControlError if it is malformed."""
        url, headers, probe_endpoints = validate(payload, self.config.max_endpoints)
        async with asyncio.timeout(self.config.timeouts.total):
            return await self._measure(url, headers, probe_endpoints)

    async def _measure(
        self, url: str, headers: dict[str, str], probe_endpoints: list[tuple[str, int]]
    ) -> dict[str, Any]:
        clock = Clock()
        target = parse_target(url)
        if is_ip_literal(target.host):
            addrs, dns_failure = [target.host.strip("[]")], None
        else:
            addrs, dns_failure = await self.resolve(target.host, clock)
        endpoints = list(dict.fromkeys([*probe_endpoints, *((a, target.port) for a in addrs)]))
        endpoints = endpoints[: self.config.max_endpoints]
        ids: Iterator[int] = itertools.count(1)
        checked = await asyncio.gather(
            *(self._check(ip, port, target, clock, next(ids)) for ip, port in endpoints)
        )
        # The first hop goes over the first of the helper's *own* endpoints that worked:
        # one handshake fewer, and never over an address only the probe's resolver gave.
        own = [c for c in checked if c.key in {endpoint(a, target.port) for a in addrs}]
        first = next((c.conn for c in own if c.conn is not None), None)
        for c in checked:
            if c.conn is not None and c.conn is not first:
                c.conn.close()
        first_failure = None if first is not None else _first_failure(own, dns_failure)
        cache = {target.host: addrs}

        async def resolve_hop(host: str) -> list[str]:
            if host not in cache:
                cache[host] = (await self.resolve(host, clock))[0]
            return cache[host]

        policy = self._policy(headers)
        hops = await fetch(
            url,
            policy,
            resolve=resolve_hop,
            clock=clock,
            ids=ids,
            first=first,
            first_failure=first_failure,
        )
        return {
            "dns": {"failure": dns_failure, "addrs": addrs},
            "tcp_connect": {c.key: c.tcp for c in checked},
            "tls_handshake": {c.key: c.tls for c in checked if c.tls is not None},
            "http_request": _http_request(hops[-1]),
            "ip_info": self._ip_info(probe_endpoints, addrs, checked),
        }

    async def _check(
        self, ip: str, port: int, target: Target, clock: Clock, transaction_id: int
    ) -> _Checked:
        key = endpoint(ip, port)
        if not self.allowed(ip):
            return _Checked(key, {"status": False, "failure": failures.PRIVATE_TARGET})
        conn = await connect_endpoint(
            ip,
            port,
            server_name=target.server_name,
            timeouts=self.config.timeouts,
            clock=clock,
            transaction_id=transaction_id,
            ca_file=self.config.ca_file,
        )
        tcp = {"status": conn.tcp.failure is None, "failure": conn.tcp.failure}
        tls = None
        if conn.tls is not None:
            tls = {
                "server_name": target.host,
                "status": conn.tls.failure is None,
                "failure": conn.tls.failure,
            }
        return _Checked(key, tcp, tls, conn if conn.streams is not None else None)

    def _policy(self, headers: dict[str, str]) -> FetchPolicy:
        extra = dict(headers)
        return FetchPolicy(
            timeouts=self.config.timeouts,
            body_cap=self.config.body_cap,
            max_redirects=self.config.max_redirects,
            user_agent=extra.pop("User-Agent", DEFAULT_UA),
            extra_headers=extra,
            ca_file=self.config.ca_file,
            allow=self.allowed,
        )

    def _ip_info(
        self, probe_endpoints: list[tuple[str, int]], addrs: list[str], checked: list[_Checked]
    ) -> dict[str, dict[str, int]]:
        """OONI's ip_info: each address's ASN and flags (who resolved it, bogon, valid TLS)."""
        probe_ips = {ip for ip, _ in probe_endpoints}
        tls_ok = {split_endpoint(c.key)[0] for c in checked if c.tls and c.tls["status"]}
        info = {}
        for ip in dict.fromkeys([*probe_ips, *addrs]):
            flags = (FLAG_RESOLVED_BY_PROBE if ip in probe_ips else 0) | (
                FLAG_RESOLVED_BY_TH if ip in addrs else 0
            )
            flags |= (FLAG_BOGON if is_bogon(ip) else 0) | (
                FLAG_VALID_FOR_DOMAIN if ip in tls_ok else 0
            )
            asn = self.asn_db.lookup(ip)[0] if self.asn_db else 0
            info[ip] = {"asn": asn, "flags": flags}
        return info


def _first_failure(own: list[_Checked], dns_failure: str | None) -> str:
    """Why none of the helper's own endpoints could carry the first hop."""
    return (
        next((c.tls["failure"] for c in own if c.tls and c.tls["failure"]), None)
        or next((c.tcp["failure"] for c in own if c.tcp["failure"]), None)
        or dns_failure
        or failures.DNS_NO_ANSWER
    )


def _http_request(final: HTTPExchange) -> dict[str, Any]:
    return {
        "body_length": len(final.body) if final.failure is None else -1,
        "discovered_h3_endpoint": "",
        "failure": final.failure,
        "title": final.title,
        "headers": {k: v for k, v in final.response_headers},
        "status_code": final.status_code if final.failure is None else -1,
        # Our extension: the unthrottled baseline a probe's throttled transfer is held to.
        "x_goodput_kbps": final.trace.goodput_kbps() if final.trace is not None else None,
    }


def validate(payload: Any, max_endpoints: int) -> tuple[str, dict[str, str], list[tuple[str, int]]]:
    """Check a control request's shape; raise ControlError naming what is wrong."""
    if not isinstance(payload, dict):
        raise ControlError("request body must be a JSON object")
    url = payload.get("http_request")
    if not isinstance(url, str) or len(url) > 4096:
        raise ControlError("http_request must be a URL string")
    try:
        parse_target(url)
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    raw_headers = payload.get("http_request_headers") or {}
    if not isinstance(raw_headers, dict):
        raise ControlError("http_request_headers must be an object of lists")
    headers: dict[str, str] = {}
    for key, values in raw_headers.items():
        value = values[0] if isinstance(values, list) and values else values
        if not isinstance(key, str) or not isinstance(value, str):
            raise ControlError("http_request_headers must map names to lists of strings")
        if key.lower() in _FORWARDED_HEADERS and "\r" not in value and "\n" not in value:
            headers["-".join(p.capitalize() for p in key.split("-"))] = value[:512]
    raw_endpoints = payload.get("tcp_connect") or []
    if not isinstance(raw_endpoints, list) or len(raw_endpoints) > max_endpoints:
        raise ControlError(f"tcp_connect must be a list of at most {max_endpoints} ip:port")
    endpoints = []
    for item in raw_endpoints:
        try:
            endpoints.append(split_endpoint(str(item)))
        except ValueError as exc:
            raise ControlError(f"bad tcp_connect entry {str(item)[:64]!r}") from exc
    return url, headers, endpoints
