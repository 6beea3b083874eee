"""The tool tests: ``tor``, ``openvpn``, ``signal``, ``telegram``, ``whatsapp`` (OONI's names).

Each writes OONI's test keys (ts-023-tor, ts-040-openvpn, ts-029-signal, ts-020-telegram,
ts-018-whatsapp) from the ``net`` steps. The tor test writes one measurement per target (so a
relay and an obfs4 bridge land in their own series, ``tor`` and ``tor-obfs4``), openvpn one per
endpoint (OONI's input URI), a messaging app one for all its endpoints. Every step has its
timeout, each measurement ``config.timeouts.total``, and at most ``config.concurrency`` run.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from blockwatch.analysis.tools import app_summary
from blockwatch.net.addresses import is_ip_literal
from blockwatch.net.clock import Clock
from blockwatch.net.dns import addresses_of, lookup_all
from blockwatch.net.endpoint import connect_endpoint
from blockwatch.net.flows import parse_target, request_headers
from blockwatch.net.http import HTTPExchange, exchange
from blockwatch.net.obfs4 import Obfs4Client, obfs4_available, socks5_connect
from blockwatch.net.openvpn import openvpn_handshake
from blockwatch.net.tcp import tcp_connect
from blockwatch.net.tls import cleartext_streams, tls_handshake
from blockwatch.ooni.measurement import report_id as ooni_report_id
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.runner import envelope
from blockwatch.probe.targets import APPS, AppTargets, ToolTargets, TorTarget, VPNTarget

__all__ = ["TOOL_TESTS", "count_jobs", "measure_tool"]

TOOL_TESTS: Final = ("tor", "openvpn", *APPS)
TEST_VERSIONS: Final = {
    "tor": "0.3.0",
    "openvpn": "0.1.0",
    "signal": "0.2.5",
    "telegram": "0.3.0",
    "whatsapp": "0.11.0",
}
DIR_PATH: Final = "/tor/status-vote/current/consensus.z"
DIR_BODY_CAP: Final = 1 << 16  # reachability, not the consensus: 64 KiB is plenty


async def measure_tool(
    test: str,
    targets: ToolTargets,
    config: ProbeConfig,
    *,
    start_time: datetime | None = None,
    obfs4proxy: str | None = None,
    report_suffix: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every measurement of ``test`` over ``targets``, yielded as each finishes;
    ``report_suffix`` ends the report id (the lab's ``bwlab<round>``), else a random one."""
    if test not in TOOL_TESTS:
        raise ValueError(f"unknown tool test {test!r}: one of {', '.join(TOOL_TESTS)}")
    start = start_time or datetime.now(UTC)
    suffix = report_suffix or secrets.token_hex(8)
    rid = ooni_report_id(start, test, config.probe_cc, config.probe_asn, suffix)
    obfs4: Obfs4Client | None = None
    if test == "tor" and any(t.kind == "obfs4" for t in targets.tor):
        binary = obfs4proxy or obfs4_available()
        try:
            obfs4 = await Obfs4Client.start(binary) if binary else None
        except (OSError, RuntimeError, TimeoutError):
            obfs4 = None  # as where it is not installed: the bridges get a TCP connect only
    try:
        jobs = _jobs(test, targets, config, obfs4)
        slots = asyncio.Semaphore(config.concurrency)

        async def one(
            input_: str | None, work: Callable[[], Awaitable[dict[str, Any]]]
        ) -> dict[str, Any]:
            async with slots:
                began = time.monotonic()
                try:
                    async with asyncio.timeout(config.timeouts.total):
                        keys = await work()
                except TimeoutError:
                    keys = {"failure": "generic_timeout_error"}
                doc = envelope(
                    input_ or "",
                    config,
                    keys,
                    start=start,
                    report_id=rid,
                    runtime=time.monotonic() - began,
                )
                doc.update(input=input_, test_name=test, test_version=TEST_VERSIONS[test])
                return doc

        for task in asyncio.as_completed([one(i, w) for i, w in jobs]):
            yield await task
    finally:
        if obfs4 is not None:
            await obfs4.close()


def count_jobs(test: str, targets: ToolTargets) -> int:
    """How many measurements ``measure_tool`` will write."""
    if test == "tor":
        return len(targets.tor)
    if test == "openvpn":
        return len(targets.openvpn)
    return int(test in targets.apps)


Job = tuple[str | None, Callable[[], Awaitable[dict[str, Any]]]]


def _jobs(
    test: str, targets: ToolTargets, config: ProbeConfig, obfs4: Obfs4Client | None
) -> list[Job]:
    if test == "tor":
        return [(t.address, _bind(tor_keys, t, config, obfs4)) for t in targets.tor]
    if test == "openvpn":
        return [(t.input, _bind(openvpn_keys, t, config)) for t in targets.openvpn]
    app = targets.apps.get(test)
    return [] if app is None else [(None, _bind(app_keys, app, config))]


def _bind(
    fn: Callable[..., Awaitable[dict[str, Any]]], *args: Any
) -> Callable[[], Awaitable[dict[str, Any]]]:
    return lambda: fn(*args)


# -- tor ----------------------------------------------------------------------------------


def target_id(t: TorTarget) -> str:
    """OONI's target id: the address, or for a bridge sha256(address + fingerprint)."""
    if t.kind != "obfs4":
        return t.address
    return hashlib.sha256((t.address + t.fingerprint).encode()).hexdigest()


async def tor_keys(t: TorTarget, config: ProbeConfig, obfs4: Obfs4Client | None) -> dict[str, Any]:
    """ts-023 test keys for one target: connect, then TLS (OR port), GET (dir port) or the
    obfs4 handshake through obfs4proxy (TCP connect only where it is not installed)."""
    clock = Clock()
    tcp, sock = await tcp_connect(
        t.ip,
        t.port,
        timeout=config.timeouts.connect,
        clock=clock,
        source_ip=config.source_ip,
        transaction_id=1,
    )
    entry: dict[str, Any] = {
        "agent": "redirect",
        "failure": tcp.failure,
        "network_events": None,
        "queries": None,
        "requests": None,
        "summary": {"connect": {"failure": tcp.failure}},
        "target_address": t.address,
        "target_name": t.name,
        "target_protocol": t.kind,
        "tcp_connect": [tcp.to_ooni()],
        "tls_handshakes": None,
    }
    if sock is not None:
        failure = await _tor_step(t, sock, config, clock, obfs4, entry)
        entry["failure"] = failure
        entry["summary"]["handshake"] = {"failure": failure}
    kinds = ("dir_port", "obfs4", "or_port_dirauth", "or_port")
    keys: dict[str, Any] = {}
    for kind in kinds:
        keys[f"{kind}_total"] = int(t.kind == kind)
        keys[f"{kind}_accessible"] = int(t.kind == kind and entry["failure"] is None)
    keys["targets"] = {target_id(t): entry}
    return keys


async def _tor_step(
    t: TorTarget,
    sock: Any,
    config: ProbeConfig,
    clock: Clock,
    obfs4: Obfs4Client | None,
    entry: dict[str, Any],
) -> str | None:
    if t.kind == "obfs4":
        sock.close()
        if obfs4 is None:
            entry["summary"]["handshake"] = {"failure": None, "note": "obfs4proxy not installed"}
            return None
        return await socks5_connect(
            obfs4.socks, t.ip, t.port, t.params, timeout=config.timeouts.tls
        )
    if t.kind == "dir_port":
        record = HTTPExchange(
            url=f"http://{t.address}{DIR_PATH}",
            method="GET",
            request_headers=request_headers(
                parse_target(f"http://{t.address}/"), config.user_agent
            ),
            transaction_id=1,
            t0=clock.now(),
            address=t.address,
        )
        streams = await cleartext_streams(sock)
        await exchange(
            *streams,
            record,
            target=DIR_PATH,
            timeout=config.timeouts.http,
            body_cap=DIR_BODY_CAP,
            clock=clock,
        )
        entry["requests"] = [record.to_ooni()]
        return record.failure
    # A relay's certificate is self-signed and names a random host: reachability only.
    name = f"www.{secrets.token_hex(6)}.com"
    tls, relay = await tls_handshake(
        sock, name, timeout=config.timeouts.tls, clock=clock, transaction_id=1, verify=False
    )
    if relay is not None:
        relay[1].transport.abort()
    entry["tls_handshakes"] = [tls.to_ooni()]
    return tls.failure


# -- openvpn ------------------------------------------------------------------------------


async def openvpn_keys(t: VPNTarget, config: ProbeConfig) -> dict[str, Any]:
    """ts-040 test keys: the control channel's hard reset, answered or not."""
    clock = Clock()
    tcp, record = await openvpn_handshake(
        t.ip,
        t.port,
        t.transport,
        timeout=config.timeouts.tls,
        connect_timeout=config.timeouts.connect,
        clock=clock,
        provider=t.provider,
        transaction_id=1,
        source_ip=config.source_ip,
    )
    ok = record.failure is None
    return {
        "success": ok,
        "failure": record.failure,
        "tunnel": "openvpn",
        "bootstrap_time": round(record.t - record.t0, 6) if ok else 0,
        "openvpn_handshake": [record.to_ooni()],
        "tcp_connect": [tcp.to_ooni()] if tcp is not None else [],
        "network_events": record.events,
    }


# -- messaging apps -----------------------------------------------------------------------


async def app_keys(app: AppTargets, config: ProbeConfig) -> dict[str, Any]:
    """DNS, TCP, TLS and HTTP to each of the app's endpoints; then its OONI summary keys."""
    clock = Clock()
    ids = itertools.count(1)
    keys: dict[str, Any] = {
        "agent": "redirect",
        "failure": None,
        "failed_operation": None,
        "queries": [],
        "tcp_connect": [],
        "tls_handshakes": [],
        "requests": [],
        "network_events": [],
    }
    results = await asyncio.gather(
        *(_app_endpoint(e, app, config, clock, ids) for e in app.endpoints)
    )
    for part in results:
        for key, values in part.items():
            keys[key].extend(values)
    keys.update(app_summary(app.app, keys))
    return keys


async def _app_endpoint(
    url: str, app: AppTargets, config: ProbeConfig, clock: Clock, ids: Any
) -> dict[str, list[Any]]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    scheme = parts.scheme
    port = parts.port or (443 if scheme == "https" else 80)
    out: dict[str, list[Any]] = {
        "queries": [],
        "tcp_connect": [],
        "tls_handshakes": [],
        "requests": [],
    }
    if is_ip_literal(host):
        addresses = [host.strip("[]")]
    else:
        queries = await lookup_all(
            host,
            resolver=config.resolver_address,
            system=config.system_resolver,
            timeout=config.timeouts.dns,
            clock=clock,
            source_ip=config.source_ip,
        )
        out["queries"] = [q.to_ooni() for q in queries]
        addresses = addresses_of(queries)
    for ip in addresses[: config.max_endpoints]:
        conn = await connect_endpoint(
            ip,
            port,
            server_name=host if scheme == "https" else None,
            timeouts=config.timeouts,
            clock=clock,
            transaction_id=next(ids),
            ca_file=app.ca_file or config.ca_file,
            source_ip=config.source_ip,
        )
        out["tcp_connect"].append(conn.tcp.to_ooni())
        if conn.tls is not None:
            out["tls_handshakes"].append(conn.tls.to_ooni())
        if conn.streams is None or scheme == "tcp":
            conn.close()
            continue
        target = parse_target(url)
        record = HTTPExchange(
            url=url,
            method="GET",
            request_headers=request_headers(target, config.user_agent),
            transaction_id=conn.transaction_id,
            t0=clock.now(),
            address=conn.address,
        )
        await exchange(
            *conn.streams,
            record,
            target=target.path,
            timeout=config.timeouts.http,
            body_cap=config.http_body_cap,
            clock=clock,
        )
        out["requests"].append(record.to_ooni())
    return out
