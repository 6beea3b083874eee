"""The control measurement: what an uncensored vantage sees for a URL (OONI test helper).

It fetches URLs for strangers, so every address it would touch goes through
:meth:`Helper.allowed`: loopback, private, link-local and other non-public targets are
refused unless ``allow_private`` (the lab). Redirect hops are checked the same way.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from blockwatch.errors import ControlError
from blockwatch.probe import dns as dnsstep
from blockwatch.probe import failures
from blockwatch.probe.addresses import endpoint, is_bogon, is_ip_literal, is_public, split_endpoint
from blockwatch.probe.clock import Clock
from blockwatch.probe.config import Timeouts, parse_host_port
from blockwatch.probe.flows import fetch, parse_target
from blockwatch.probe.geoip import AsnDatabase
from blockwatch.probe.tcp import tcp_connect
from blockwatch.probe.tls import cleartext_streams, tls_handshake

FLAG_RESOLVED_BY_PROBE = 1
FLAG_RESOLVED_BY_TH = 2
FLAG_BOGON = 4
FLAG_VALID_FOR_DOMAIN = 8
_FORWARDED_HEADERS = ("user-agent", "accept", "accept-language")
DEFAULT_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537"


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
    ca_file: str | None = None
    geoip_db: str | None = None


class Helper:
    """Answers control requests: ``await helper.handle(payload) -> response``."""

    def __init__(self, config: HelperConfig | None = None) -> None:
        self.config = config or HelperConfig()
        self.asn_db = AsnDatabase(self.config.geoip_db) if self.config.geoip_db else None
        self._resolver = parse_host_port(self.config.resolver, 53) if self.config.resolver else None

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
        t = self.config.timeouts
        if is_ip_literal(target.host):
            addrs, dns_failure = [target.host.strip("[]")], None
        else:
            addrs, dns_failure = await self.resolve(target.host, clock)
        endpoints = list(dict.fromkeys([*probe_endpoints, *((a, target.port) for a in addrs)]))
        endpoints = endpoints[: self.config.max_endpoints]

        async def probe_endpoint(ip: str, port: int) -> tuple[str, dict, dict | None, Any]:
            key = endpoint(ip, port)
            if not self.allowed(ip):
                refused = {"status": False, "failure": failures.PRIVATE_TARGET}
                return key, refused, None, None
            tcp, sock = await tcp_connect(ip, port, timeout=t.connect, clock=clock)
            tcp_entry = {"status": sock is not None, "failure": tcp.failure}
            if sock is None:
                return key, tcp_entry, None, None
            if target.scheme != "https":
                return key, tcp_entry, None, await cleartext_streams(sock)
            tls, streams = await tls_handshake(
                sock, target.host, timeout=t.tls, clock=clock, ca_file=self.config.ca_file
            )
            tls_entry = {
                "server_name": target.host,
                "status": tls.failure is None,
                "failure": tls.failure,
            }
            return key, tcp_entry, tls_entry, streams

        cache = {target.host: addrs}

        async def resolve_hop(host: str) -> list[str]:
            if host not in cache:
                cache[host] = (await self.resolve(host, clock))[0]
            return cache[host]

        results = await asyncio.gather(*(probe_endpoint(ip, port) for ip, port in endpoints))
        # The first hop goes over the first of the helper's *own* endpoints that worked:
        # one handshake fewer, and never over an address only the probe's resolver gave.
        own = {endpoint(a, target.port) for a in addrs}
        first = next(((r[3], r[0]) for r in results if r[3] is not None and r[0] in own), None)
        for r in results:
            if r[3] is not None and (first is None or r[3] is not first[0]):
                r[3][1].transport.abort()
        first_failure = None
        if first is None:
            mine = [r for r in results if r[0] in own]
            first_failure = (
                next((r[2]["failure"] for r in mine if r[2] and r[2]["failure"]), None)
                or next((r[1]["failure"] for r in mine if r[1]["failure"]), None)
                or dns_failure
                or failures.DNS_NO_ANSWER
            )
        hops = await fetch(
            url,
            resolve=resolve_hop,
            allow=self.allowed,
            timeouts=t,
            clock=clock,
            body_cap=self.config.body_cap,
            max_redirects=self.config.max_redirects,
            user_agent=headers.pop("User-Agent", DEFAULT_UA),
            ca_file=self.config.ca_file,
            first=first,
            first_failure=first_failure,
            extra_headers=headers,
            ids=itertools.count(1),
        )
        final = hops[-1]
        http_request = {
            "body_length": len(final.body) if final.failure is None else -1,
            "discovered_h3_endpoint": "",
            "failure": final.failure,
            "title": final.title,
            "headers": {k: v for k, v in final.response_headers},
            "status_code": final.status_code if final.failure is None else -1,
        }
        probe_ips = {ip for ip, _ in probe_endpoints}
        tls_ok = {split_endpoint(r[0])[0] for r in results if r[2] and r[2]["status"]}
        ip_info = {}
        for ip in dict.fromkeys([*probe_ips, *addrs]):
            flags = (FLAG_RESOLVED_BY_PROBE if ip in probe_ips else 0) | (
                FLAG_RESOLVED_BY_TH if ip in addrs else 0
            )
            flags |= (FLAG_BOGON if is_bogon(ip) else 0) | (
                FLAG_VALID_FOR_DOMAIN if ip in tls_ok else 0
            )
            asn = self.asn_db.lookup(ip)[0] if self.asn_db else 0
            ip_info[ip] = {"asn": asn, "flags": flags}
        return {
            "dns": {"failure": dns_failure, "addrs": addrs},
            "tcp_connect": {r[0]: r[1] for r in results},
            "tls_handshake": {r[0]: r[2] for r in results if r[2] is not None},
            "http_request": http_request,
            "ip_info": ip_info,
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
