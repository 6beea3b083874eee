"""OONI's Web Connectivity comparisons: probe observations against the control (pure).

Rules (DESIGN §3, ts-017): DNS consistency per resolver engine; TCP ``blocked`` when the
probe failed an endpoint the control reached; HTTP body proportion, status, headers and
title matches; then OONI's ``blocking`` / ``accessible`` summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from blockwatch.net import failures
from blockwatch.net.addresses import endpoint, is_bogon
from blockwatch.net.dns import DNSQuery
from blockwatch.net.http import HTTPExchange
from blockwatch.net.tcp import TCPConnect

COMMON_HEADERS = frozenset(
    {
        "date", "content-type", "server", "cache-control", "vary", "set-cookie", "location",
        "expires", "x-powered-by", "content-encoding", "last-modified", "accept-ranges",
        "pragma", "x-frame-options", "etag", "x-content-type-options", "age", "via",
        "p3p", "x-xss-protection", "content-language", "cf-ray", "strict-transport-security",
        "link", "x-varnish", "content-length", "connection", "transfer-encoding", "keep-alive",
    }
)  # fmt: skip
_WORD = re.compile(r"\w+", re.UNICODE)


def dns_consistency(
    queries: list[DNSQuery], control: dict[str, Any] | None, asn_of: Callable[[str], int]
) -> str | None:
    """ "consistent" | "inconsistent" | None (no control); every resolver engine must agree."""
    if not control or not isinstance(control.get("dns"), dict) or not queries:
        return None
    ctrl_addrs = set(control["dns"].get("addrs") or [])
    ctrl_failure = control["dns"].get("failure")
    ip_info = control.get("ip_info") or {}
    ctrl_asns = {int((ip_info.get(a) or {}).get("asn") or 0) for a in ctrl_addrs} - {0}
    verdicts = []
    for engine in sorted({q.engine for q in queries}):
        mine = [q for q in queries if q.engine == engine]
        addrs = {a for q in mine for a in q.addresses}
        if not addrs:
            failure = next(
                (q.failure for q in mine if q.failure == failures.DNS_NXDOMAIN),
                next((q.failure for q in mine if q.query_type != "AAAA"), None),
            )
            same = ctrl_failure is not None and failure == ctrl_failure
            verdicts.append(same or (ctrl_failure is not None and not ctrl_addrs))
            continue
        if any(is_bogon(a) and a not in ctrl_addrs for a in addrs):
            verdicts.append(False)  # a private/reserved answer the control never gives
        elif addrs & ctrl_addrs:
            verdicts.append(True)
        else:
            asns = {asn_of(a) for a in addrs} - {0}
            verdicts.append(bool(asns & ctrl_asns))
    return "consistent" if all(verdicts) else "inconsistent"


def mark_tcp_blocked(tcp: list[TCPConnect], control: dict[str, Any] | None) -> None:
    """OONI's ``status.blocked``: the probe failed where the control connected."""
    ctrl = (control or {}).get("tcp_connect") or {}
    for record in tcp:
        entry = ctrl.get(endpoint(record.ip, record.port))
        if not control or not isinstance(entry, dict):
            record.blocked = None
            continue
        record.blocked = record.failure is not None and entry.get("status") is True


def title_words(title: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(title or "") if len(w) >= 5}


def http_comparison(final: HTTPExchange | None, control: dict[str, Any] | None) -> dict[str, Any]:
    """body_length_match, body_proportion, status_code_match, headers_match, title_match."""
    out: dict[str, Any] = dict.fromkeys(
        ("body_length_match", "body_proportion", "status_code_match", "headers_match",
         "title_match"),
    )  # fmt: skip
    ctrl = (control or {}).get("http_request") or {}
    if final is None or final.failure is not None or not ctrl or ctrl.get("failure"):
        return out
    ctrl_len = int(ctrl.get("body_length") or 0)
    probe_len = len(final.body)
    if ctrl_len > 0 and probe_len > 0:
        proportion = min(ctrl_len, probe_len) / max(ctrl_len, probe_len)
        out["body_proportion"] = round(proportion, 6)
        out["body_length_match"] = None if final.body_is_truncated else proportion > 0.7
    ctrl_code = ctrl.get("status_code")
    if isinstance(ctrl_code, int) and ctrl_code > 0:
        out["status_code_match"] = ctrl_code == final.status_code
    ctrl_headers = {str(k).lower() for k in (ctrl.get("headers") or {})}
    probe_headers = {k.lower() for k, _ in final.response_headers}
    if ctrl_headers:
        out["headers_match"] = ctrl_headers == probe_headers or bool(
            (ctrl_headers - COMMON_HEADERS) & (probe_headers - COMMON_HEADERS)
        )
    ctrl_words = title_words(str(ctrl.get("title") or ""))
    if ctrl_words:
        out["title_match"] = bool(ctrl_words & title_words(final.title))
    return out


def blocking(
    *,
    control: dict[str, Any] | None,
    control_failure: str | None,
    dns_consistency: str | None,
    tcp: list[TCPConnect],
    final: HTTPExchange | None,
    comparison: dict[str, Any],
) -> tuple[str | bool | None, bool | None]:
    """OONI's (blocking, accessible): "dns" | "tcp_ip" | "http-failure" | "http-diff" | False."""
    if control_failure or not control:
        return None, None
    inconsistent = dns_consistency == "inconsistent"
    ctrl_http_failure = (control.get("http_request") or {}).get("failure")
    if final is not None and final.failure is None:
        c = comparison
        if ctrl_http_failure:
            return False, True
        if c["status_code_match"] and (
            c["body_length_match"] or c["headers_match"] or c["title_match"]
        ):
            return False, True
        if c["status_code_match"] is None and c["body_length_match"]:
            return False, True
        return ("dns" if inconsistent else "http-diff"), False
    if ctrl_http_failure:
        # The control fails too: the site is down, not blocked (unless our DNS lied).
        return ("dns" if inconsistent else False), False
    if inconsistent:
        return "dns", False
    if tcp and all(r.failure for r in tcp) and any(r.blocked for r in tcp):
        return "tcp_ip", False
    return "http-failure", False
