"""Where a failed fetch broke (TCP, TLS or HTTP) and what that failure means as a method."""

from __future__ import annotations

from blockwatch.analysis.dns_consistency import NO_SUCH_NAME
from blockwatch.analysis.observations import Endpoint, HttpObservation

TIMEOUT = "generic_timeout_error"
RESETS = frozenset({"connection_reset", "eof_error", "connection_aborted"})
UNREACHABLE = frozenset({"host_unreachable", "network_unreachable"})
TLS_MITM = frozenset(
    {
        "ssl_invalid_hostname",
        "ssl_unknown_authority",
        "ssl_invalid_certificate",
        "ssl_failed_handshake",
    }
)


def locate_failure(
    final: HttpObservation | None, tcp: list[Endpoint], tls: list[Endpoint]
) -> tuple[str, str, str] | None:
    """(stage, failure, where) of the step that stopped the fetch, or None if none did.

    OONI keeps the last request of a redirect chain first. When it failed, the stage is
    found from the TLS/TCP records that failed the same way; when there is no request, or
    the chain stopped at a redirect, the first endpoint that never succeeded is to blame.
    """
    tcp_ok = {(e.ip, e.port) for e in tcp if e.failure is None}
    tls_ok = {(e.ip, e.port) for e in tls if e.failure is None}
    tls_bad = [e for e in tls if e.failure and (e.ip, e.port) in tcp_ok | {(e.ip, e.port)}]
    tcp_bad = [e for e in tcp if e.failure and (e.ip, e.port) not in tcp_ok]
    if final is not None and final.failure:
        f = final.failure
        if final.url.startswith("https://") or not final.url:
            for e in tls_bad:
                if e.failure == f and (e.ip, e.port) not in tls_ok:
                    return "tls", f, f"handshake with {e.ip}:{e.port}"
        for e in tcp_bad:
            if e.failure == f:
                return "tcp", f, f"connect to {e.ip}:{e.port}"
        if f in TLS_MITM:
            return "tls", f, "handshake"
        return "http", f, f"request for {final.url or 'the page'}"
    if final is not None and final.status is not None and not 300 <= final.status < 400:
        return None
    # No request, or a redirect whose next hop never produced a request.
    for e in tls_bad:
        if (e.ip, e.port) not in tls_ok:
            return "tls", e.failure or "unknown_failure", f"handshake with {e.ip}:{e.port}"
    for e in tcp_bad:
        return "tcp", e.failure or "unknown_failure", f"connect to {e.ip}:{e.port}"
    return None


def method_for(stage: str, failure: str) -> str | None:
    """The verdict method of a failure at a stage (None: not evidence of interference)."""
    if stage == "dns":
        if failure == TIMEOUT:
            return "dns.timeout"
        if failure in NO_SUCH_NAME:
            return "dns.nxdomain"
        return "dns.inconsistent"
    if failure in TLS_MITM:
        return "tls.mitm"
    if stage == "tcp":
        if failure == TIMEOUT or failure in UNREACHABLE:
            return "tcp.timeout"
        if failure == "connection_refused":
            return "tcp.refused"
        if failure in RESETS:
            return "tcp.reset"
        return None
    if stage == "tls":
        if failure in RESETS:
            return "tls.reset"
        if failure == TIMEOUT:
            return "tls.timeout"
        return None
    if failure in RESETS:
        return "http.reset"
    if failure == TIMEOUT:
        return "http.timeout"
    # Anything else (a broken redirect Location, a probe-side decoding bug, ...) is the
    # site's or the probe's own fault as far as we can tell: not evidence of interference.
    return None
