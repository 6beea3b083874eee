"""Where a failed fetch broke (TCP, TLS or HTTP) and what that failure means as a method."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

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


# A probe whose IPv6 connects mostly fail has no IPv6 route (OONI's pipeline sets them aside
# when the probe's IPv6 failure rate is above half): those failures say nothing of a censor.
IPV6_UNROUTABLE_RATE = 0.5
# probe-cli's failure for a redirect whose Location has no usable host or URL.
INVALID_REDIRECT = "http_invalid_redirect_location"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def routable_endpoints(
    tcp: list[Endpoint], tls: list[Endpoint]
) -> tuple[list[Endpoint], list[Endpoint], int]:
    """The TCP and TLS records without the IPv6 ones when the probe has no IPv6 route,
    and how many failed IPv6 connects were set aside."""
    v6 = [e for e in tcp if ":" in e.ip]
    failed = sum(1 for e in v6 if e.failure)
    if not v6 or failed / len(v6) <= IPV6_UNROUTABLE_RATE:
        return tcp, tls, 0
    return [e for e in tcp if ":" not in e.ip], [e for e in tls if ":" not in e.ip], failed


def broken_redirect(final: HttpObservation) -> bool:
    """The site's own redirect cannot be followed: a probe-cli failure saying so, or a chain
    that stopped at a redirect with no Location or one without a host."""
    if final.failure is not None:
        return final.failure.startswith(INVALID_REDIRECT)
    if final.status not in REDIRECT_STATUSES:
        return False
    location = next((v for k, v in final.headers.items() if str(k).lower() == "location"), None)
    if not isinstance(location, str) or not location.strip():
        return True
    if location.startswith("/") and not location.startswith("//"):
        return False  # a relative path: followable against the request's URL
    try:
        parts = urlsplit(location)
    except ValueError:
        return True
    return bool(parts.scheme) and not parts.hostname


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
