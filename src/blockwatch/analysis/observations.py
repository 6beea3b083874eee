"""Flat observations read out of web_connectivity test keys (probe and control side).

The records are plain (not frozen) slotted dataclasses: they are built for every
measurement on the ingest hot path, and a frozen dataclass pays a setattr detour per field.

Each function takes the raw test keys and returns small records; nothing is copied that
the verdict does not need. Every value from the measurement is untrusted: wrong types are
skipped (the verdict then sees "no observation"), never raised as TypeError.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

# DNS engines whose answers come from the network under test. DoH goes through an
# encrypted resolver abroad, so the censor cannot rewrite it: it is not probe evidence.
UNTRUSTED_ENGINES = frozenset({"doh", "dot"})


@dataclass(slots=True)
class DnsObservation:
    """The probe's own-network DNS results for one host name, overall and per engine."""

    hostname: str
    addrs: list[str] = field(default_factory=list)
    asns: dict[str, int] = field(default_factory=dict)
    # engine -> (addresses it answered, failures it reported), in first-seen order
    engines: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)

    def failed_engines(self) -> list[tuple[str, str]]:
        """(engine, first failure) of each engine that produced no address at all."""
        return [(e, fails[0]) for e, (addrs, fails) in self.engines.items() if not addrs and fails]

    @property
    def failures(self) -> list[str]:
        return [f for _, fails in self.engines.values() for f in fails]


@dataclass(slots=True)
class Endpoint:
    """One TCP connect or TLS handshake outcome (failure None = success)."""

    ip: str
    port: int
    failure: str | None
    server_name: str | None = None
    no_tls_verify: bool = False


@dataclass(slots=True)
class HttpObservation:
    """One HTTP request (OONI lists the last request of a redirect chain first)."""

    url: str
    failure: str | None
    status: int | None
    headers: dict[str, Any]
    body: str
    body_length: int
    body_truncated: bool
    transaction_id: int | None
    address: str | None = None  # "ip:port" the request went to (our probe records it)


@dataclass(slots=True)
class ControlObservation:
    """What the uncensored control saw."""

    dns_failure: str | None
    addrs: list[str]
    asns: dict[str, int]  # ASN of each of the control's own answers (when known)
    http_failure: str | None
    http_status: int | None
    http_headers: dict[str, Any]
    http_body_length: int | None
    http_title: str | None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def probe_dns(tk: dict[str, Any], hostname: str) -> DnsObservation:
    """The answers and failures of the probe's own resolvers (system, UDP) for ``hostname``."""
    obs = DnsObservation(hostname)
    queries = tk.get("queries")
    if type(queries) is not list:
        return obs
    engines, asns, all_addrs = obs.engines, obs.asns, obs.addrs
    for q in queries:  # the hot loop of the verdict: plain type checks, few calls
        if type(q) is not dict:
            continue
        engine = q.get("engine")
        if type(engine) is not str:
            engine = "system"
        elif engine in UNTRUSTED_ENGINES:
            continue
        qhost = q.get("hostname")
        if (
            type(qhost) is str
            and hostname
            and qhost != hostname
            and qhost.lower().rstrip(".") != hostname
        ):
            continue
        entry = engines.get(engine)
        if entry is None:
            entry = engines[engine] = ([], [])
        failure = q.get("failure")
        if failure and type(failure) is str:
            entry[1].append(failure)
        answers = q.get("answers")
        if type(answers) is not list:
            continue
        for ans in answers:
            if type(ans) is not dict:
                continue
            addr = ans.get("ipv4") or ans.get("ipv6")
            if type(addr) is not str or not addr:
                continue
            entry[0].append(addr)
            if addr not in asns:
                all_addrs.append(addr)
                asn = ans.get("asn")
                asns[addr] = asn if type(asn) is int else 0
    return obs


def other_host_failures(tk: dict[str, Any], hostname: str) -> list[tuple[str, str]]:
    """(host, failure) of lookups of other names (redirect targets) that got no address."""
    seen: dict[str, tuple[bool, str | None]] = {}
    for q in _list(tk.get("queries")):
        if not isinstance(q, dict) or _str(q.get("engine")) in UNTRUSTED_ENGINES:
            continue
        qhost = (_str(q.get("hostname")) or "").lower().rstrip(".")
        if not qhost or qhost == hostname:
            continue
        answered, failure = seen.get(qhost, (False, None))
        answered = answered or any(
            isinstance(a, dict) and (a.get("ipv4") or a.get("ipv6"))
            for a in _list(q.get("answers"))
        )
        seen[qhost] = (answered, failure or _str(q.get("failure")))
    return [(h, f) for h, (ok, f) in seen.items() if not ok and f]


def ip_of_transaction(tk: dict[str, Any], transaction_id: int | None) -> str | None:
    """The address a request was sent to, via the TCP connect of the same transaction."""
    if transaction_id is None:
        return None
    for entry in _list(tk.get("tcp_connect")):
        if isinstance(entry, dict) and entry.get("transaction_id") == transaction_id:
            return _str(entry.get("ip"))
    return None


def tcp_connects(tk: dict[str, Any]) -> list[Endpoint]:
    return [e for entry in _list(tk.get("tcp_connect")) if (e := tcp_connect_entry(entry))]


def tcp_connect_entry(entry: Any) -> Endpoint | None:
    """One tcp_connect entry, or None when it lacks a usable address."""
    if not isinstance(entry, dict):
        return None
    ip, port = _str(entry.get("ip")), _int(entry.get("port"))
    status = _dict(entry.get("status"))
    if ip is None or port is None:
        return None
    failure = _str(status.get("failure"))
    if failure is None and status.get("success") is False:
        failure = "unknown_failure"
    return Endpoint(ip, port, failure)


def tls_handshakes(tk: dict[str, Any]) -> list[Endpoint]:
    out: list[Endpoint] = []
    for entry in _list(tk.get("tls_handshakes")):
        if not isinstance(entry, dict):
            continue
        ip, port = split_endpoint(_str(entry.get("address")) or "")
        out.append(
            Endpoint(
                ip,
                port,
                _str(entry.get("failure")),
                server_name=_str(entry.get("server_name")),
                no_tls_verify=entry.get("no_tls_verify") is True,
            )
        )
    return out


def split_endpoint(address: str) -> tuple[str, int]:
    """ "1.2.3.4:443" or "[::1]:443" -> (ip, port); port 0 when absent."""
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, 0
    host = host.strip("[]")
    return host, int(port) if port.isdigit() else 0


def decode_body(body: Any) -> str:
    """OONI bodies are text, or {"format": "base64", "data": ...} for binary ones."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and body.get("format") == "base64":
        data = body.get("data")
        if isinstance(data, str):
            try:
                return base64.b64decode(data, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return ""
    return ""


def header_dict(raw: Any) -> dict[str, Any]:
    """Headers: OONI's name -> value dict, or headers_list [[name, value], ...].

    Values OONI had to store as base64 (not valid UTF-8) are decoded, so a fingerprint
    can still match them.
    """
    if type(raw) is dict:
        if any(type(v) is dict for v in raw.values()):
            return {k: decode_body(v) if type(v) is dict else v for k, v in raw.items()}
        return raw
    out: dict[str, Any] = {}
    for pair in _list(raw):
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str):
            out.setdefault(pair[0], decode_body(pair[1]) if isinstance(pair[1], dict) else pair[1])
    return out


_EMPTY: dict[str, Any] = {}


def _or_none(value: Any, kind: type) -> Any:
    return value if type(value) is kind else None


def http_requests(tk: dict[str, Any]) -> list[HttpObservation]:
    """Every request, the last of a redirect chain first (as OONI stores them)."""
    out: list[HttpObservation] = []
    entries = tk.get("requests")
    if type(entries) is not list:
        return out
    for entry in entries:  # hot: inline type checks rather than helper calls
        if type(entry) is not dict:
            continue
        req = entry.get("request")
        resp = entry.get("response")
        if type(resp) is not dict:
            resp = _EMPTY
        body = resp.get("body")
        if type(body) is not str:
            body = decode_body(body)
        status = resp.get("code")
        headers = resp.get("headers") or resp.get("headers_list")
        url = req.get("url") if type(req) is dict else None
        out.append(
            HttpObservation(
                url if type(url) is str else "",
                _or_none(entry.get("failure"), str),
                status if type(status) is int and status else None,
                header_dict(headers) if headers else {},
                body,
                len(body),
                resp.get("body_is_truncated") is True,
                _or_none(entry.get("transaction_id"), int),
                _or_none(entry.get("address"), str),
            )
        )
    return out


def final_request(requests: list[HttpObservation]) -> HttpObservation | None:
    """The request whose response is the page the probe got.

    OONI lists the last request of a redirect chain first, but a probe that fetches over
    several endpoints at once (probe-cli's) also lists the parallel requests, and cancels
    the slower ones ("interrupted"): the page is the first complete non-redirect response
    of any of them; only when there is none does the first request speak for the fetch.
    """
    for r in requests:
        if r.failure is None and r.status is not None and not 300 <= r.status < 400:
            return r
    return requests[0] if requests else None


def control(tk: dict[str, Any]) -> ControlObservation | None:
    """The control's view, or None when the control is missing or itself failed."""
    failure = tk.get("control_failure")
    if failure and type(failure) is str:
        return None
    ctrl = tk.get("control")
    if type(ctrl) is not dict or not ctrl:
        return None
    dns = ctrl.get("dns")
    if type(dns) is not dict:
        dns = _EMPTY
    raw_addrs = dns.get("addrs")
    addrs = [a for a in raw_addrs if type(a) is str] if type(raw_addrs) is list else []
    ip_info = ctrl.get("ip_info")
    asns: dict[str, int] = {}
    if type(ip_info) is dict:
        for ip in addrs:
            info = ip_info.get(ip)
            asn = info.get("asn") if type(info) is dict else None
            if type(asn) is int and asn:
                asns[ip] = asn
    http = ctrl.get("http_request")
    if type(http) is not dict:
        http = _EMPTY
    status = http.get("status_code")
    length = http.get("body_length")
    headers = http.get("headers")
    return ControlObservation(
        _or_none(dns.get("failure"), str),
        addrs,
        asns,
        _or_none(http.get("failure"), str),
        status if type(status) is int and status > 0 else None,
        headers if type(headers) is dict else {},
        length if type(length) is int and length >= 0 else None,
        _or_none(http.get("title"), str),
    )


def control_endpoint(tk: dict[str, Any], kind: str, ip: str, port: int) -> tuple[bool, str | None]:
    """(measured, failure) of the control's own TCP connect or TLS handshake to ip:port.

    ``kind`` is "tcp_connect" or "tls_handshake"; read on demand, only for a failed step.
    """
    entries = _dict(_dict(tk.get("control")).get(kind))
    key = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    entry = entries.get(key)
    if not isinstance(entry, dict):
        return False, None
    failure = _str(entry.get("failure"))
    if failure is None and entry.get("status") is False:
        failure = "unknown_failure"
    return True, failure


@dataclass(slots=True)
class BodyRead:
    """One read of an HTTP transfer (our probe records these as network_events)."""

    t: float
    num_bytes: int
    transaction_id: int | None


def body_reads(tk: dict[str, Any]) -> list[BodyRead]:
    """The reads of the HTTP exchanges: a connection's reads from its
    ``http_transaction_start`` mark on where it has one (a wire trace also holds the TLS
    handshake), else from its ``tls_handshake_done``, else all of them."""
    out: list[BodyRead] = []
    starts: dict[int | None, float] = {}
    for ev in _list(tk.get("network_events")):
        if not isinstance(ev, dict):
            continue
        op = ev.get("operation")
        t = ev.get("t")
        if op == "http_transaction_start" and isinstance(t, int | float):
            starts[_int(ev.get("transaction_id"))] = float(t)
        elif op == "tls_handshake_done" and isinstance(t, int | float):
            starts.setdefault(_int(ev.get("transaction_id")), float(t))
        if op != "read":
            continue
        n = ev.get("num_bytes")
        if isinstance(n, int) and isinstance(t, int | float) and not isinstance(n, bool):
            out.append(BodyRead(float(t), n, _int(ev.get("transaction_id"))))
    if starts:
        out = [r for r in out if r.t >= starts.get(r.transaction_id, float("-inf"))]
    return out
