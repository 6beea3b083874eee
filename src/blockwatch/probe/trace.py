"""The ``blockwatch_trace`` experiment: where on the path a URL's blocking happens.

For one URL it (1) asks the resolver with rising TTLs (a resolver that lies is the
endpoint, reported as such, never as a hop), and, given an outside DNS server, looks for
an answer injected in the path; (2) traces the route to the address (UDP, for the hops'
addresses); (3) sends the SYN with rising TTLs (address blocking); (4) repeats the
ClientHello with the SNI (https) or the request with the Host (http) after a normal
handshake, for the URL's name and for a control name. The hop analysis is
``net.tracehops`` (pure); the result is one OONI-shaped measurement, ``test_name``
``blockwatch_trace``, which the pipeline stores like any other.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from blockwatch import __version__
from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.errors import InputError
from blockwatch.net.trace import (
    ANSWER,
    CLOSED,
    CONNECTED,
    DATA,
    NO_CONNECTION,
    REACHED,
    RESET,
    SILENCE,
    HopReply,
    IcmpListener,
    client_hello,
    dns_answer,
    dns_probe,
    http_request,
    stream_probe,
    syn_probe,
    udp_probe,
)
from blockwatch.net.tracehops import Tampering, distance, first_tampering
from blockwatch.ooni.measurement import report_id

TEST_NAME = "blockwatch_trace"
TEST_VERSION = "0.1.0"
SILENCES_TO_STOP = 3  # consecutive silent hops that end a trace (traceroute's "* * *")
AsnLookup = Callable[[str], tuple[int, str | None]]
Probe = Callable[[int], HopReply]


@dataclass(frozen=True, slots=True)
class TraceConfig:
    max_ttl: int = 16
    wait: float = 1.0  # seconds per probe
    control_domain: str = "example.com"  # the innocuous name of the control packets
    resolver: str | None = None  # default: the first nameserver of /etc/resolv.conf
    dns_server: str | None = None  # an outside resolver: the truth, and in-path injection
    address: str | None = None  # trace this address instead of the resolved one
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    probe_network_name: str | None = None
    fingerprints: FingerprintTable = field(default_factory=FingerprintTable.default)


def system_resolver(path: Path = Path("/etc/resolv.conf")) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot read the system resolver: {exc}") from exc
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and _ipv4(parts[1]):
            return parts[1]
    raise InputError(str(path), "names no IPv4 nameserver; pass --resolver")


def hops(probe: Probe, max_ttl: int, until: tuple[str, ...]) -> list[HopReply]:
    """``probe(1)``, ``probe(2)``, … up to the first reply of a kind in ``until``."""
    out: list[HopReply] = []
    silent = 0
    for ttl in range(1, max_ttl + 1):
        reply = probe(ttl)
        out.append(reply)
        silent = silent + 1 if reply.kind == SILENCE else 0
        if reply.kind in until or silent >= SILENCES_TO_STOP:
            break
    return out


def trace_url(url: str, config: TraceConfig, asn: AsnLookup | None = None) -> dict[str, Any]:
    """Trace one URL; its ``blockwatch_trace`` measurement (an OONI-shaped document)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(url, "not an http(s) URL")
    host = parts.hostname
    started, t0 = datetime.now(UTC), time.monotonic()
    with IcmpListener() as icmp:
        dns_keys, addresses = _dns_part(icmp, host, config)
        target = config.address or (addresses[0] if addresses else None)
        keys: dict[str, Any] = {**dns_keys, "address": target, "path": [], "traces": {}}
        found: list[Tampering] = []
        if dns_keys["dns_tampering"]:
            found.append(Tampering(**dns_keys["dns_tampering"]))
        if target is not None:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            found += _address_part(icmp, target, port, parts, config, keys)
    tampering = [_named(t, asn) for t in found]
    keys["tampering"] = tampering[0] if tampering else None
    keys["tamperings"] = tampering
    keys["endpoint_tampering"] = keys["resolver"] if keys["resolver"]["lies"] else None
    keys["summary"] = summary(keys)
    return _envelope(url, config, keys, started, time.monotonic() - t0)


def _dns_part(
    icmp: IcmpListener, host: str, config: TraceConfig
) -> tuple[dict[str, Any], list[str]]:
    resolver = config.resolver or system_resolver()

    def ask(server: str, name: str) -> Probe:
        return lambda ttl: dns_probe(icmp, server, name, ttl, config.wait)

    local = hops(ask(resolver, host), config.max_ttl, (ANSWER,))
    rcode, answers = dns_answer(local[-1]) if local[-1].kind == ANSWER else ("no_answer", [])
    truth: list[str] | None = None
    injected = None
    traces: dict[str, Any] = {"resolver": [r.to_dict() for r in local]}
    if config.dns_server:
        outside = hops(ask(config.dns_server, host), config.max_ttl, (ANSWER,))
        control = hops(ask(config.dns_server, config.control_domain), config.max_ttl, (ANSWER,))
        truth = dns_answer(outside[-1])[1] if outside[-1].kind == ANSWER else None
        hit = first_tampering("dns", outside, control, control)
        injected = hit.to_dict() if hit else None
        traces["outside"] = [r.to_dict() for r in outside]
        traces["outside_control"] = [r.to_dict() for r in control]
    known = [a for a in answers if config.fingerprints.match_dns(a) is not None]
    lie = f"answers a known blockpage address {known}" if known else None
    lie = lie or _resolver_lie(rcode, answers, truth)
    resolver_keys = {
        "address": resolver,
        "hop": distance(local),
        "rcode": rcode,
        "answers": answers,
        "expected": truth,
        "lies": lie is not None,
        "why": lie,
    }
    good = [a for a in answers if not _unusable(a)] if lie is None else []
    keys = {"resolver": resolver_keys, "dns_traces": traces, "dns_tampering": injected}
    return keys, good or list(truth or [])


def _ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def _unusable(text: str) -> bool:
    """An answer no server can be at (loopback, unspecified...). Private addresses are not
    counted: intranets and the lab answer them honestly."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return True
    return ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast


def _resolver_lie(rcode: str, answers: list[str], truth: list[str] | None) -> str | None:
    if rcode == "no_answer":
        return None  # silence is not a lie: the address part can still be traced
    if rcode != "NOERROR":
        return f"answers {rcode}" + (f" where the outside server says {truth}" if truth else "")
    if any(_unusable(a) for a in answers):
        return f"answers an address no server can be at {answers}"
    if truth and not set(answers) & set(truth):
        return f"answers {answers} where the outside server says {truth}"
    return None


def _address_part(
    icmp: IcmpListener, target: str, port: int, parts: Any, config: TraceConfig, keys: Any
) -> list[Tampering]:
    wait, top = config.wait, config.max_ttl
    path = hops(lambda t: udp_probe(icmp, target, t, wait), top, (REACHED,))
    keys["path"] = [r.to_dict() for r in path]
    syn = hops(lambda t: syn_probe(icmp, target, port, t, wait), top, (CONNECTED, RESET))
    keys["traces"]["tcp"] = {"test": [r.to_dict() for r in syn], "port": port}
    found = [hit] if (hit := first_tampering("tcp", syn, None, path)) else []
    if not any(r.kind == CONNECTED for r in syn):
        return found  # no handshake: nothing to carry a ClientHello or a request
    method = "tls" if parts.scheme == "https" else "http"
    host = parts.hostname
    target_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def payload(name: str) -> bytes:
        return client_hello(name) if method == "tls" else http_request(name, target_path)

    def probe(name: str) -> Probe:
        return lambda t: stream_probe(icmp, target, port, payload(name), t, wait)

    ends = (DATA, RESET, CLOSED, NO_CONNECTION)
    control = hops(probe(config.control_domain), top, ends)
    test = hops(probe(host), distance(control) or top, ends)
    keys["traces"][method] = {
        "test": [r.to_dict() for r in test],
        "control": [r.to_dict() for r in control],
        "control_domain": config.control_domain,
    }

    def is_blockpage(data: bytes) -> bool:
        if method != "http":
            return False
        return config.fingerprints.match_body(data.decode("latin-1")) is not None

    hit = first_tampering(method, test, control, path, is_blockpage)
    return found + ([hit] if hit else [])


def _named(t: Tampering, asn: AsnLookup | None) -> dict[str, Any]:
    out: dict[str, Any] = t.to_dict()
    # The hop's own AS; a hop that never answers has none: only the router before it has.
    number, org = asn(t.address) if asn and t.address else (0, None)
    out["asn"] = f"AS{number}" if number else None
    out["as_org"] = org
    before = asn(t.after)[0] if asn and t.after else 0
    out["after_asn"] = f"AS{before}" if before else None
    out["sentence"] = sentence(out)
    return out


_WHAT = {
    "reset": "the reset is injected",
    "blockpage": "the blockpage is injected",
    "closed": "the connection is closed",
    "silence": "the packets are dropped",
    "injected_answer": "the DNS answer is injected",
}


def sentence(t: dict[str, Any]) -> str:
    """'the reset is injected at hop 3 (10.66.60.5), inside AS17557' (for pages, reports)."""
    what = _WHAT.get(str(t["kind"]), str(t["kind"]))
    where = f" ({t['address']})" if t.get("address") else ""
    if not t.get("address") and t.get("after"):
        after_as = f", in {t['after_asn']}" if t.get("after_asn") else ""
        where = f" (just after {t['after']}{after_as})"
    inside = f", inside {t['asn']}" if t.get("asn") else ""
    return f"{what} at hop {t['hop']}{where} on the {t['method'].upper()} packet{inside}"


def summary(keys: dict[str, Any]) -> str:
    parts = []
    if keys["resolver"]["lies"]:
        r = keys["resolver"]
        parts.append(f"the resolver {r['address']} (hop {r['hop']}, the endpoint) lies: {r['why']}")
    elif keys["resolver"]["rcode"] == "no_answer":
        parts.append(f"the resolver {keys['resolver']['address']} did not answer")
    parts += [t["sentence"] for t in keys["tamperings"]]
    if keys["address"] is None:
        parts.append("no address to trace (give --dns-server or --address)")
    return "; ".join(parts) if parts else "no tampering found on the path"


def _envelope(
    url: str, config: TraceConfig, keys: dict[str, Any], start: datetime, runtime: float
) -> dict[str, Any]:
    stamp = start.strftime("%Y-%m-%d %H:%M:%S")
    suffix = secrets.token_hex(8)
    return {
        "annotations": {"engine_name": "blockwatch", "platform": "linux"},
        "data_format_version": "0.2.0",
        "input": url,
        "measurement_start_time": stamp,
        "test_start_time": stamp,
        "probe_asn": config.probe_asn,
        "probe_cc": config.probe_cc,
        "probe_ip": "127.0.0.1",
        "probe_network_name": config.probe_network_name,
        "report_id": report_id(start, TEST_NAME, config.probe_cc, config.probe_asn, suffix),
        "resolver_ip": keys["resolver"]["address"],
        "software_name": "blockwatch",
        "software_version": __version__,
        "test_name": TEST_NAME,
        "test_version": TEST_VERSION,
        "test_runtime": round(runtime, 6),
        "test_keys": keys,
    }
