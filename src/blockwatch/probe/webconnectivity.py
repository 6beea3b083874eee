"""The Web Connectivity experiment for one URL: DNS, endpoints, control, HTTP, test keys.

Endpoint flows (TCP, then TLS for https) run in parallel with the control request; HTTP
then goes over the first endpoint that worked, with the URL's host as SNI and Host. OONI's
summary keys (``blocking``, ``accessible``, the matches) come from the analysis package's
rules over the keys as recorded (``analysis.ooni_summary``): one rule set, no copy here.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

from blockwatch.analysis.ooni_summary import SUMMARY_KEYS, ooni_summary
from blockwatch.net import dns as dnsstep
from blockwatch.net.addresses import endpoint, is_ip_literal
from blockwatch.net.clock import Clock
from blockwatch.net.endpoint import Connection, connect_endpoint
from blockwatch.net.failures import SSL_FAILED_HANDSHAKE as SSL_HANDSHAKE
from blockwatch.net.flows import FetchPolicy, Target, Trace, fetch, parse_target, request_headers
from blockwatch.net.geoip import AsnDatabase
from blockwatch.net.http import HTTPExchange
from blockwatch.net.tcp import TCPConnect, tcp_connect
from blockwatch.net.tls import TLSHandshake, presented_certificate
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.control_client import control_request

__all__ = ["run"]


async def _connect(
    target: Target, ip: str, transaction_id: int, config: ProbeConfig, clock: Clock
) -> Connection:
    conn = await connect_endpoint(
        ip,
        target.port,
        server_name=target.server_name,
        timeouts=config.timeouts,
        clock=clock,
        transaction_id=transaction_id,
        ca_file=config.ca_file,
        source_ip=config.source_ip,
    )
    tls = conn.tls
    if tls and tls.failure and tls.failure.startswith("ssl_") and tls.failure != SSL_HANDSHAKE:
        # A certificate we reject: connect once more to record which one was presented.
        t = config.timeouts
        _, again = await tcp_connect(
            ip, target.port, timeout=t.connect, clock=clock, source_ip=config.source_ip
        )
        der = await presented_certificate(again, target.host, timeout=t.tls) if again else None
        tls.peer_certificates = [der] if der else []
    return conn


async def _lookup(host: str, config: ProbeConfig, clock: Clock) -> list[dnsstep.DNSQuery]:
    return await dnsstep.lookup_all(
        host,
        resolver=config.resolver_address,
        system=config.system_resolver,
        timeout=config.timeouts.dns,
        clock=clock,
        source_ip=config.source_ip,
    )


def _policy(config: ProbeConfig) -> FetchPolicy:
    return FetchPolicy(
        timeouts=config.timeouts,
        body_cap=config.http_body_cap,
        max_redirects=config.max_redirects,
        user_agent=config.user_agent,
        ca_file=config.ca_file,
        source_ip=config.source_ip,
    )


def _fetch_deadline(config: ProbeConfig) -> float:
    """When (seconds into the URL) the fetch's last exchange must end: a little before the
    whole-URL deadline (``timeouts.total``), which would discard everything, so a transfer
    still crawling then is recorded, its trace included."""
    total = config.timeouts.total
    return total - min(1.0, 0.1 * total)


def _control_job(
    config: ProbeConfig, url: str, target: Target, addresses: list[str]
) -> asyncio.Future[tuple[dict[str, Any] | None, str | None]] | None:
    if not config.control_url:
        return None
    headers = {k: [v] for k, v in request_headers(target, config.user_agent)[1:-1]}
    return asyncio.ensure_future(
        control_request(
            config.control_url,
            url=url,
            headers=headers,
            tcp_connect=[endpoint(a, target.port) for a in addresses],
            timeouts=config.timeouts,
            ca_file=None,
        )
    )


async def run(url: str, config: ProbeConfig, asn_db: AsnDatabase | None = None) -> dict[str, Any]:
    """Measure ``url``; returns the web_connectivity test keys (never raises for a site)."""
    clock = Clock()
    target = parse_target(url)
    if is_ip_literal(target.host):
        queries: list[dnsstep.DNSQuery] = []
        addresses = [target.host.strip("[]")]
    else:
        queries = await _lookup(target.host, config, clock)
        addresses = dnsstep.addresses_of(queries)[: config.max_endpoints]
    dns_failure = dnsstep.dns_failure(queries)
    # Endpoint connections and the control request, concurrently; connection i is
    # transaction i + 1, and the connections redirect hops open come after them.
    ids: Iterator[int] = itertools.count(1)
    control_job = _control_job(config, url, target, addresses)
    try:
        conns = await asyncio.gather(
            *(_connect(target, a, next(ids), config, clock) for a in addresses)
        )
        first, first_failure = _first_hop(conns, dns_failure)
        trace = Trace()
        hop_queries: list[dnsstep.DNSQuery] = []

        async def resolve_hop(host: str) -> list[str]:
            # Redirect targets resolve the way the first lookup did (same resolvers).
            found = await _lookup(host, config, clock)
            hop_queries.extend(found)
            return dnsstep.addresses_of(found)

        hops = await fetch(
            url,
            _policy(config),
            resolve=resolve_hop,
            clock=clock,
            ids=ids,
            first=first,
            first_failure=first_failure,
            trace=trace,
            deadline=_fetch_deadline(config),
        )
        control, control_failure = (await control_job) if control_job else (None, None)
    finally:
        if control_job is not None and not control_job.done():
            control_job.cancel()  # the whole-URL deadline fired: leave nothing running
    if control_job is None:
        control_failure = "no_control_helper"
    tcp = [c.tcp for c in conns]
    tls = [c.tls for c in conns if c.tls is not None]
    keys = _test_keys(queries, tcp, tls, hops, control, control_failure, dns_failure, asn_db)
    # Redirect hops' own lookups and connections, recorded as OONI does.
    keys["queries"] += [q.to_ooni(asn_db.lookup if asn_db else None) for q in hop_queries]
    keys["tcp_connect"] += [r.to_ooni() for r in trace.tcp]
    keys["tls_handshakes"] += [r.to_ooni() for r in trace.tls]
    add_summary(keys, url, config.probe_cc)
    return keys


def add_summary(keys: dict[str, Any], url: str, probe_cc: str) -> None:
    """OONI's summary keys and each TCP connect's ``blocked``, from the analysis rules."""
    summary = ooni_summary(keys, url, probe_cc)
    keys.update(summary.keys)
    for entry, blocked in zip(keys["tcp_connect"], summary.tcp_blocked, strict=True):
        entry["status"]["blocked"] = blocked


def _first_hop(
    conns: list[Connection], dns_failure: str | None
) -> tuple[Connection | None, str | None]:
    """The connection HTTP goes over (the first endpoint that worked; the others are
    closed), or the failure that stopped every endpoint (DNS, TLS, then TCP)."""
    chosen = next((c for c in conns if c.streams is not None), None)
    for c in conns:
        if c is not chosen:
            c.close()
    if chosen is not None:
        return chosen, None
    if not conns:
        return None, dns_failure or "dns_no_answer"
    tls_failure = next((c.tls.failure for c in conns if c.tls is not None and c.tls.failure), None)
    return None, tls_failure or conns[0].tcp.failure


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
    final = hops[-1] if hops else None
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
        **dict.fromkeys(SUMMARY_KEYS),  # filled in by add_summary
    }
