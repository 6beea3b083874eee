"""The one mapping from exceptions and errno values to OONI failure strings.

Every step calls :func:`failure_string` at the edge; nothing downstream inspects
exception types. The strings are OONI's (probe-cli ``netxlite`` error names), so our
measurements and OONI's mean the same thing.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Final

import dns.exception
import dns.resolver

GENERIC_TIMEOUT: Final = "generic_timeout_error"
CONNECTION_REFUSED: Final = "connection_refused"
CONNECTION_RESET: Final = "connection_reset"
EOF_ERROR: Final = "eof_error"
DNS_NXDOMAIN: Final = "dns_nxdomain_error"
DNS_NO_ANSWER: Final = "dns_no_answer"
DNS_REFUSED: Final = "dns_refused_error"
DNS_SERVFAIL: Final = "dns_servfail_error"
DNS_MISBEHAVING: Final = "dns_server_misbehaving"
SSL_INVALID_HOSTNAME: Final = "ssl_invalid_hostname"
SSL_UNKNOWN_AUTHORITY: Final = "ssl_unknown_authority"
SSL_INVALID_CERTIFICATE: Final = "ssl_invalid_certificate"
SSL_FAILED_HANDSHAKE: Final = "ssl_failed_handshake"
# Our own words for refusals by policy (the control helper's SSRF guard) and caps.
PRIVATE_TARGET: Final = "private_address_refused"

_ERRNO: Final = {
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ECONNRESET: CONNECTION_RESET,
    errno.ECONNABORTED: "connection_aborted",
    errno.EHOSTUNREACH: "host_unreachable",
    errno.ENETUNREACH: "network_unreachable",
    errno.ETIMEDOUT: GENERIC_TIMEOUT,
    errno.EPIPE: "broken_pipe",
    errno.EADDRNOTAVAIL: "address_not_available",
    errno.EACCES: "permission_denied",
    errno.EPERM: "operation_not_permitted",
    errno.EINVAL: "invalid_argument",
}

_GAI: Final = {
    socket.EAI_NONAME: DNS_NXDOMAIN,
    socket.EAI_AGAIN: GENERIC_TIMEOUT,
    socket.EAI_FAIL: DNS_SERVFAIL,
}
if hasattr(socket, "EAI_NODATA"):
    _GAI[socket.EAI_NODATA] = DNS_NO_ANSWER

# OpenSSL certificate verification codes (X509_V_ERR_*).
_VERIFY: Final = {
    62: SSL_INVALID_HOSTNAME,  # hostname mismatch
    2: SSL_UNKNOWN_AUTHORITY,  # unable to get issuer certificate
    18: SSL_UNKNOWN_AUTHORITY,  # self-signed leaf
    19: SSL_UNKNOWN_AUTHORITY,  # self-signed in chain
    20: SSL_UNKNOWN_AUTHORITY,  # unable to get local issuer
    21: SSL_UNKNOWN_AUTHORITY,  # unable to verify leaf signature
}


def failure_string(exc: BaseException) -> str:
    """OONI's failure string for an exception raised by a network step."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | dns.exception.Timeout):
        return GENERIC_TIMEOUT
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return DNS_NXDOMAIN
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _VERIFY.get(exc.verify_code, SSL_INVALID_CERTIFICATE)
    if isinstance(exc, ssl.SSLEOFError | asyncio.IncompleteReadError | EOFError):
        return EOF_ERROR
    if isinstance(exc, ssl.SSLError):
        # OpenSSL reports a peer that closes mid-handshake as an "unexpected eof".
        if "EOF" in str(exc).upper():
            return EOF_ERROR
        return SSL_FAILED_HANDSHAKE
    if isinstance(exc, socket.gaierror):
        return _GAI.get(exc.errno, DNS_MISBEHAVING) if exc.errno is not None else DNS_MISBEHAVING
    if isinstance(exc, ConnectionResetError):
        return CONNECTION_RESET
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    if isinstance(exc, dns.exception.DNSException):
        return DNS_MISBEHAVING
    if isinstance(exc, OSError):
        return f"unknown_failure: {exc.strerror or exc}"
    return f"unknown_failure: {type(exc).__name__}: {exc}"
