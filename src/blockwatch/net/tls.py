"""TLS step: a handshake with SNI over a connected socket, verified against a CA store.

Verification failures are recorded as OONI failures (``ssl_invalid_hostname``,
``ssl_unknown_authority``...), not raised: a certificate for another name is evidence.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from blockwatch.net import failures
from blockwatch.net.addresses import endpoint
from blockwatch.net.clock import Clock

STREAM_LIMIT = 1 << 16  # longest line (status, header) a peer may send


@dataclass(slots=True)
class TLSHandshake:
    """One TLS handshake (OONI ``tls_handshakes`` entry)."""

    ip: str
    port: int
    server_name: str
    t0: float
    t: float = 0.0
    failure: str | None = None
    tls_version: str | None = None
    cipher_suite: str | None = None
    negotiated_protocol: str | None = None
    peer_certificates: list[bytes] = field(default_factory=list)
    transaction_id: int | None = None  # the connection's id (see TCPConnect)
    no_tls_verify: bool = False  # a Tor relay's self-signed certificate: only reachability

    def to_ooni(self) -> dict[str, Any]:
        return {
            "address": endpoint(self.ip, self.port),
            "server_name": self.server_name,
            "failure": self.failure,
            "tls_version": self.tls_version,
            "cipher_suite": self.cipher_suite,
            "negotiated_protocol": self.negotiated_protocol,
            "no_tls_verify": self.no_tls_verify,
            "peer_certificates": [
                {"format": "base64", "data": base64.b64encode(c).decode()}
                for c in self.peer_certificates
            ],
            "t0": self.t0,
            "t": self.t,
            "transaction_id": self.transaction_id,
        }


@functools.lru_cache(maxsize=8)
def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context (system store, or only ``ca_file``), cached per CA file."""
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])  # we speak HTTP/1.1 over whatever we negotiate
    return ctx


async def tls_handshake(
    sock: socket.socket,
    server_name: str,
    *,
    timeout: float,
    clock: Clock,
    ca_file: str | None = None,
    transaction_id: int | None = None,
    verify: bool = True,
) -> tuple[TLSHandshake, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
    """Handshake over ``sock`` (consumed either way); return the record and, on success,
    the stream pair to speak HTTP over. ``verify=False`` only for peers whose certificate is
    self-signed by design (Tor relays): the handshake is the reachability signal."""
    ip, port = sock.getpeername()[:2]
    record = TLSHandshake(ip, port, server_name, t0=clock.now(), transaction_id=transaction_id)
    record.no_tls_verify = not verify
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                sock=sock,
                ssl=client_context(ca_file) if verify else _unverified_context(),
                server_hostname=server_name,
                ssl_handshake_timeout=timeout + 5,  # our own deadline fires first
                limit=STREAM_LIMIT,
            )
    except BaseException as exc:
        sock.close()
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
            raise
        record.failure = failures.failure_string(exc)
        record.t = clock.now()
        return record, None
    record.t = clock.now()
    tls = writer.get_extra_info("ssl_object")
    if tls is not None:
        record.tls_version = tls.version()
        cipher = tls.cipher()
        record.cipher_suite = cipher[0] if cipher else None
        record.negotiated_protocol = tls.selected_alpn_protocol()
        der = tls.getpeercert(binary_form=True)
        if der:
            record.peer_certificates = [der]
    return record, (reader, writer)


@functools.lru_cache(maxsize=1)
def _unverified_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # only to read what the peer presents, never to trust it
    return ctx


async def presented_certificate(
    sock: socket.socket, server_name: str, *, timeout: float
) -> bytes | None:
    """The leaf certificate the peer presents for ``server_name``, without verifying it.

    Used after a verification failure, so the record shows *which* certificate came (the
    evidence of a TLS interception), as OONI's peer_certificates do.
    """
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                sock=sock, ssl=_unverified_context(), server_hostname=server_name
            )
    except Exception:
        sock.close()
        return None
    tls = writer.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    writer.transport.abort()
    return der


async def cleartext_streams(
    sock: socket.socket,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Wrap a connected socket into streams without TLS (for http:// URLs)."""
    return await asyncio.open_connection(sock=sock, limit=STREAM_LIMIT)
