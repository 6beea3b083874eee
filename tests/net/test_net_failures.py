"""One mapping from exceptions to OONI failure strings, as a table."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import dns.exception
import pytest

from blockwatch.net.failures import failure_string


def verify_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError("verify failed")
    exc.verify_code = code
    return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), "generic_timeout_error"),
        (dns.exception.Timeout(), "generic_timeout_error"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection_reset"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
        (OSError(errno.EHOSTUNREACH, "no route"), "host_unreachable"),
        (OSError(errno.ENETUNREACH, "no net"), "network_unreachable"),
        (socket.gaierror(socket.EAI_NONAME, "no name"), "dns_nxdomain_error"),
        (asyncio.IncompleteReadError(b"", 10), "eof_error"),
        (ssl.SSLEOFError("eof"), "eof_error"),
        (verify_error(62), "ssl_invalid_hostname"),
        (verify_error(20), "ssl_unknown_authority"),
        (verify_error(18), "ssl_unknown_authority"),
        (verify_error(10), "ssl_invalid_certificate"),
        (dns.exception.FormError(), "dns_server_misbehaving"),
        (ValueError("bad status line"), "unknown_failure: ValueError: bad status line"),
    ],
)
def test_exception_maps_to_ooni_failure_string(exc: BaseException, expected: str) -> None:
    assert failure_string(exc) == expected
