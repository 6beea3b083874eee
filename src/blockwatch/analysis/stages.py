"""Where a failed fetch broke (TCP, TLS or HTTP) and what that failure means as a method."""

from __future__ import annotations

from typing import NamedTuple

from blockwatch.analysis.dns_consistency import NO_SUCH_NAME
from blockwatch.analysis.observations import Endpoint, HttpObservation


class Broken(NamedTuple):
    """The step that stopped a fetch."""

    stage: str  # "dns" | "tcp" | "tls" | "http"
    failure: str
    where: str  # human-readable: "connect to 1.2.3.4:443"
    endpoint: Endpoint | None = None


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
) -> Broken | None:
    """The step that stopped the fetch, or None if none did.

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
                    return Broken("tls", f, f"handshake with {e.ip}:{e.port}", e)
        for e in tcp_bad:
            if e.failure == f:
                return Broken("tcp", f, f"connect to {e.ip}:{e.port}", e)
        if f in TLS_MITM:
            return Broken("tls", f, "handshake")
        return Broken("http", f, f"request for {final.url or 'the page'}")
    if final is not None and final.status is not None and not 300 <= final.status < 400:
        return None
    # No request, or a redirect whose next hop never produced a request.
    for e in tls_bad:
        if (e.ip, e.port) not in tls_ok:
            where = f"handshake with {e.ip}:{e.port}"
            return Broken("tls", e.failure or "unknown_failure", where, e)
    for e in tcp_bad:
        return Broken("tcp", e.failure or "unknown_failure", f"connect to {e.ip}:{e.port}", e)
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
        # A refused connect is an RST answering the SYN (or an ICMP unreachable, which a
        # socket cannot tell apart): when only this vantage sees it, a censor forged it.
        if failure == "connection_refused" or failure in RESETS:
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
