"""Client of OONI's test-helper protocol: ours, or any OONI-compatible helper URL.

POST ``{http_request, http_request_headers, tcp_connect}`` and get back
``{dns, tcp_connect, tls_handshake, http_request, ip_info}`` (ts-017 control).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from typing import Any

import orjson

from blockwatch.net import failures
from blockwatch.net.addresses import is_ip_literal
from blockwatch.net.clock import Clock
from blockwatch.net.endpoint import Connection
from blockwatch.net.flows import FetchPolicy, Target, open_connection, parse_target
from blockwatch.net.http import HTTPExchange, exchange
from blockwatch.net.timeouts import Timeouts

__all__ = ["control_request", "health"]

MAX_CONTROL_RESPONSE = 1 << 20


async def _resolve(host: str, timeout: float) -> list[str]:
    if is_ip_literal(host):
        return [host.strip("[]")]
    async with asyncio.timeout(timeout):
        infos = await asyncio.get_running_loop().getaddrinfo(host, 0, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(i[4][0]) for i in infos))


async def _connect(
    target: Target, timeouts: Timeouts, ca_file: str | None, clock: Clock
) -> tuple[Connection | None, str | None]:
    addresses = await _resolve(target.host, timeouts.dns)
    policy = FetchPolicy(timeouts=timeouts, ca_file=ca_file)
    return await open_connection(target, addresses, policy, clock=clock, ids=itertools.count(1))


async def control_request(
    helper_url: str,
    *,
    url: str,
    headers: dict[str, list[str]],
    tcp_connect: list[str],
    timeouts: Timeouts,
    ca_file: str | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Ask the helper about ``url``: (control, None) or (None, control_failure)."""
    clock = Clock()
    payload = orjson.dumps(
        {"http_request": url, "http_request_headers": headers, "tcp_connect": tcp_connect}
    )
    try:
        async with asyncio.timeout(timeouts.control):
            target = parse_target(helper_url)
            conn, failure = await _connect(target, timeouts, ca_file, clock)
            if conn is None or conn.streams is None:
                return None, failure
            record = HTTPExchange(
                url=helper_url,
                method="POST",
                request_headers=[
                    ("Host", target.host_header),
                    ("User-Agent", "blockwatch"),
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(payload))),
                    ("Connection", "close"),
                ],
                transaction_id=0,
                t0=0.0,
            )
            await exchange(
                *conn.streams,
                record,
                target=target.path,
                timeout=timeouts.control,
                body_cap=MAX_CONTROL_RESPONSE,
                clock=clock,
                body=payload,
            )
    except Exception as exc:
        return None, failures.failure_string(exc)
    if record.failure:
        return None, record.failure
    if record.status_code != 200:
        return None, f"http_request_failed: status {record.status_code}"
    try:
        control = orjson.loads(record.body)
    except orjson.JSONDecodeError:
        return None, "json_parse_error"
    if not isinstance(control, dict):
        return None, "json_parse_error"
    return control, None


async def health(helper_url: str, *, timeouts: Timeouts, ca_file: str | None = None) -> bool:
    """True when the helper answers GET with 200."""
    clock = Clock()
    try:
        target = parse_target(helper_url)
        conn, _ = await _connect(target, timeouts, ca_file, clock)
    except Exception:
        return False
    if conn is None or conn.streams is None:
        return False
    record = HTTPExchange(
        helper_url, "GET", [("Host", target.host_header), ("Connection", "close")], 0, 0.0
    )
    await exchange(
        *conn.streams,
        record,
        target=target.path,
        timeout=timeouts.control,
        body_cap=4096,
        clock=clock,
    )
    return record.failure is None and record.status_code == 200
