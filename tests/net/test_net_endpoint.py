"""connect_endpoint on real loopback servers: TCP then TLS, one transaction id for both."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from blockwatch.net.clock import Clock
from blockwatch.net.endpoint import connect_endpoint
from blockwatch.net.timeouts import Timeouts
from blockwatch.pki import CertificateAuthority

FAST = Timeouts(dns=1, connect=1, tls=1, http=1, control=1, total=2)


async def _serve(ssl_context: object | None = None) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_tls_endpoint_gives_tcp_and_tls_records_under_one_id(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    server = await _serve(ca.server_context(["site.test"]))
    port = server.sockets[0].getsockname()[1]
    try:
        conn = await connect_endpoint(
            "127.0.0.1",
            port,
            server_name="site.test",
            timeouts=FAST,
            clock=Clock(),
            transaction_id=7,
            ca_file=str(ca.cert_file),
        )
        assert conn.streams is not None and conn.failure is None
        assert conn.address == f"127.0.0.1:{port}"
        assert conn.tls is not None and conn.tls.server_name == "site.test"
        assert conn.tcp.to_ooni()["transaction_id"] == conn.tls.to_ooni()["transaction_id"] == 7
        conn.close()
        assert conn.streams is None
    finally:
        server.close()


async def test_a_certificate_for_another_name_is_a_tls_failure_not_an_exception(
    tmp_path: Path,
) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    server = await _serve(ca.server_context(["other.test"]))
    port = server.sockets[0].getsockname()[1]
    try:
        conn = await connect_endpoint(
            "127.0.0.1",
            port,
            server_name="site.test",
            timeouts=FAST,
            clock=Clock(),
            transaction_id=3,
            ca_file=str(ca.cert_file),
        )
        assert conn.streams is None and conn.tcp.failure is None
        assert conn.failure == "ssl_invalid_hostname" and conn.tls is not None
        assert conn.tls.transaction_id == 3
    finally:
        server.close()


async def test_cleartext_has_no_tls_record_and_a_refused_port_no_streams() -> None:
    server = await _serve()
    port = server.sockets[0].getsockname()[1]
    try:
        ok = await connect_endpoint(
            "127.0.0.1", port, server_name=None, timeouts=FAST, clock=Clock(), transaction_id=1
        )
        assert ok.tls is None and ok.streams is not None and ok.failure is None
        ok.close()
    finally:
        server.close()
    refused = await connect_endpoint(
        "127.0.0.1",
        _closed_port(),
        server_name="x.test",
        timeouts=FAST,
        clock=Clock(),
        transaction_id=2,
    )
    assert refused.streams is None and refused.tls is None
    assert refused.failure == "connection_refused" and refused.tcp.transaction_id == 2
