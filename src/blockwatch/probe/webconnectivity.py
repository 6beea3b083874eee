"""The Web Connectivity experiment for one URL: DNS, endpoints, control, HTTP, test keys.

Endpoint flows (TCP, then TLS for https) run in parallel with the control request; HTTP
then goes over the first endpoint that worked, with the URL's host as SNI and Host.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from blockwatch.control.client import control_request
from blockwatch.probe import dns as dnsstep
from blockwatch.probe import testkeys
from blockwatch.probe.addresses import endpoint, is_ip_literal
from blockwatch.probe.clock import Clock
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.flows import Streams, Target, Trace, fetch, parse_target, request_headers
from blockwatch.probe.geoip import AsnDatabase
from blockwatch.probe.http import HTTPExchange
from blockwatch.probe.tcp import TCPConnect, tcp_connect
from blockwatch.probe.tls import (
    TLSHandshake,
    cleartext_streams,
    presented_certificate,
    tls_handshake,
)


async def _endpoint_flow(
    target: Target, ip: str, config: ProbeConfig, clock: Clock
) -> tuple[TCPConnect, TLSHandshake | None, Streams | None]:
    t = config.timeouts
    tcp, sock = await tcp_connect(
        ip, target.port, timeout=t.connect, clock=clock, source_ip=config.source_ip
    )
    if sock is None:
        return tcp, None, None
    if target.scheme != "https":
        return tcp, None, await cleartext_streams(sock)
    tls, streams = await tls_handshake(
        sock, target.host, timeout=t.tls, clock=clock, ca_file=config.ca_file
    )
    if tls.failure and tls.failure.startswith("ssl_") and tls.failure != "ssl_failed_handshake":
        # A certificate we reject: connect once more to record which one was presented.
        _, again = await tcp_connect(
            ip, target.port, timeout=t.connect, clock=clock, source_ip=config.source_ip
        )
        der = await presented_certificate(again, target.host, timeout=t.tls) if again else None
        tls.peer_certificates = [der] if der else []
    return tcp, tls, streams


async def run(url: str, config: ProbeConfig, asn_db: AsnDatabase | None = None) -> dict[str, Any]:
    """Measure ``url``; returns the web_connectivity test keys (never raises for a site)."""
    clock = Clock()
    target = parse_target(url)
    t = config.timeouts
    # DNS phase.
    if is_ip_literal(target.host):
        queries: list[dnsstep.DNSQuery] = []
        addresses = [target.host.strip("[]")]
    else:
        queries = await dnsstep.lookup_all(
            target.host,
            resolver=config.resolver_address,
            system=config.system_resolver,
            timeout=t.dns,
            clock=clock,
            source_ip=config.source_ip,
        )
        addresses = dnsstep.addresses_of(queries)[: config.max_endpoints]
    dns_failure = dnsstep.dns_failure(queries)
    # Endpoint flows and the control request, concurrently.
    headers = {k: [v] for k, v in request_headers(target, config.user_agent)[1:-1]}
    control_job = (
        asyncio.ensure_future(
            control_request(
                config.control_url,
                url=url,
                headers=headers,
                tcp_connect=[endpoint(a, target.port) for a in addresses],
                timeouts=t,
                ca_file=None,
            )
        )
        if config.control_url
        else None
    )
    try:
        flows = await asyncio.gather(*(_endpoint_flow(target, a, config, clock) for a in addresses))
        tcp = [f[0] for f in flows]
        tls = [f[1] for f in flows if f[1] is not None]
        first, first_failure = _first_hop(flows, addresses, target.port, dns_failure)
        trace = Trace()
        hop_queries: list[dnsstep.DNSQuery] = []
        hops = await fetch(
            url,
            resolve=lambda host: _resolve_hop(host, config, clock, hop_queries),
            allow=lambda _ip: True,
            timeouts=t,
            clock=clock,
            body_cap=config.http_body_cap,
            max_redirects=config.max_redirects,
            user_agent=config.user_agent,
            ca_file=config.ca_file,
            first=first,
            first_failure=first_failure,
            source_ip=config.source_ip,
            ids=itertools.count(1),
            trace=trace,
        )
        control, control_failure = (await control_job) if control_job else (None, None)
    finally:
        if control_job is not None and not control_job.done():
            control_job.cancel()  # the whole-URL deadline fired: leave nothing running
    if control_job is None:
        control_failure = "no_control_helper"
    keys = _test_keys(queries, tcp, tls, hops, control, control_failure, dns_failure, asn_db)
    # Redirect hops' own lookups and connections, recorded as OONI does (after the
    # comparisons, which concern the URL's own host and endpoints).
    keys["queries"] += [q.to_ooni(asn_db.lookup if asn_db else None) for q in hop_queries]
    keys["tcp_connect"] += [r.to_ooni() for r in trace.tcp]
    keys["tls_handshakes"] += [r.to_ooni() for r in trace.tls]
    return keys


def _first_hop(
    flows: list[tuple[TCPConnect, TLSHandshake | None, Streams | None]],
    addresses: list[str],
    port: int,
    dns_failure: str | None,
) -> tuple[tuple[Streams, str] | None, str | None]:
    """The connection HTTP goes over (the first endpoint that worked; the others are
    closed), or the failure that stopped every endpoint (DNS, TLS, then TCP)."""
    chosen = next((i for i, f in enumerate(flows) if f[2] is not None), None)
    for i, (_, _, streams) in enumerate(flows):
        if streams is not None and i != chosen:
            streams[1].transport.abort()
    if chosen is not None:
        streams = flows[chosen][2]
        assert streams is not None
        return (streams, endpoint(addresses[chosen], port)), None
    if not flows:
        return None, dns_failure or "dns_no_answer"
    tls_failure = next((f[1].failure for f in flows if f[1] is not None and f[1].failure), None)
    return None, tls_failure or flows[0][0].failure


async def _resolve_hop(
    host: str, config: ProbeConfig, clock: Clock, record: list[dnsstep.DNSQuery]
) -> list[str]:
    """Redirect targets resolve the way the probe's first lookup did (same resolvers)."""
    queries = await dnsstep.lookup_all(
        host,
        resolver=config.resolver_address,
        system=config.system_resolver,
        timeout=config.timeouts.dns,
        clock=clock,
        source_ip=config.source_ip,
    )
    record.extend(queries)
    return dnsstep.addresses_of(queries)


def _test_keys(
    queries: list[dnsstep.DNSQuery],
    tcp: list[TCPConnect],
    tls: list[TLSHandshake],
    hops: list[HTTPExchange],
    control: dict[str, Any] | None,
    control_failure: str | None,
    dns_failure: str | None,
    asn_db: AsnDatabase | None,
) -> dict[str, Any]:
    def asn_of(ip: str) -> int:
        return asn_db.lookup(ip)[0] if asn_db else 0

    consistency = testkeys.dns_consistency(queries, control, asn_of)
    testkeys.mark_tcp_blocked(tcp, control)
    final = hops[-1] if hops else None
    comparison = testkeys.http_comparison(final, control)
    blocking, accessible = testkeys.blocking(
        control=control,
        control_failure=control_failure,
        dns_consistency=consistency,
        tcp=tcp,
        final=final,
        comparison=comparison,
    )
    events = [e for h in hops for e in h.network_events()]
    return {
        "agent": "redirect",
        "client_resolver": None,
        "retries": None,
        "socksproxy": None,
        "queries": [q.to_ooni(asn_db.lookup if asn_db else None) for q in queries],
        "tcp_connect": [r.to_ooni() for r in tcp],
        "tls_handshakes": [r.to_ooni() for r in tls],
        "requests": [h.to_ooni() for h in reversed(hops)],  # newest first, as OONI does
        "network_events": events,
        "control": control or {},
        "control_failure": control_failure,
        "dns_experiment_failure": dns_failure,
        "http_experiment_failure": final.failure if final else None,
        "dns_consistency": consistency,
        **comparison,
        "blocking": blocking,
        "accessible": accessible,
    }
