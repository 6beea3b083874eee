"""HTTP/HTTPS origins for tests: pages per Host, and censor or hostile behaviours.

A behaviour applies to every peer, or only to ``victim`` (the probe's source address),
which lets one loopback server be a censored site for the probe and a healthy one for
the control helper, the way an on-path censor sees only the censored network.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from dataclasses import dataclass, field

BLOCKPAGE = (
    b"<html><head><title>Access denied</title></head><body>"
    b"<h1>This site has been blocked by order of the authority</h1>"
    b"<!-- blockwatch-lab-censor --></body></html>"
)
BEHAVIOURS = (
    "normal",
    "blockpage",  # answer any request with BLOCKPAGE
    "http_reset",  # read the request, then RST
    "tls_reset",  # read the ClientHello, then RST
    "tls_stall",  # read the ClientHello, never answer
    "tls_eof",  # read the ClientHello, then close cleanly
    "tls_mitm",  # handshake with a certificate for another name
    "endless",  # 200 with a body that never ends
    "trickle",  # 200, one byte per second
    "slow",  # the real page, at about 32 KiB/s
)


@dataclass
class Page:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def html_page(title: str, size: int = 2000) -> Page:
    """A page with a title and some body, the size of a small real page."""
    filler = (b"lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    body = f"<html><head><title>{title}</title></head><body><p>".encode() + filler + b"</p></body>"
    return Page(200, body + b"</html>", [("Content-Type", "text/html"), ("X-Origin", "test")])


@dataclass
class Origin:
    """One listening origin at ``host:port`` (TLS when ``tls`` is given)."""

    host: str
    pages: dict[str, Page]
    port: int = 0
    tls: ssl.SSLContext | None = None
    behaviour: str = "normal"
    victim: str | None = None  # None: the behaviour applies to every peer
    mitm_tls: ssl.SSLContext | None = None
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> Origin:
        assert self.behaviour in BEHAVIOURS, self.behaviour
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        act = self.behaviour if self.victim in (None, peer) else "normal"
        if self.tls is not None:
            if act in ("tls_reset", "tls_stall", "tls_eof"):
                await reader.read(1)  # the ClientHello has arrived
                if act == "tls_reset":
                    _reset(writer)
                elif act == "tls_stall":
                    await asyncio.sleep(3600)
                return
            ctx = self.mitm_tls if act == "tls_mitm" and self.mitm_tls else self.tls
            await writer.start_tls(ctx)
        head = await reader.readuntil(b"\r\n\r\n")
        host = ""
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line.lower().startswith("host:"):
                host = line.split(":", 1)[1].strip().rsplit(":", 1)[0].lower()
        if act == "http_reset":
            _reset(writer)
            return
        if act == "endless":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            chunk = b"x" * 65536
            while True:
                writer.write(chunk)
                await writer.drain()
        if act == "trickle":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(1)
            return
        if act == "blockpage":
            page = Page(200, BLOCKPAGE, [("Content-Type", "text/html")])
        else:
            page = self.pages.get(host) or Page(404, b"<html><title>Not found</title></html>")
        if act == "slow":
            return await _send_slowly(writer, page)
        reason = {200: "OK", 301: "Moved", 302: "Found", 404: "Not Found"}.get(page.status, "X")
        out = f"HTTP/1.1 {page.status} {reason}\r\n"
        out += "".join(f"{k}: {v}\r\n" for k, v in page.headers)
        out += f"Content-Length: {len(page.body)}\r\nConnection: close\r\n\r\n"
        writer.write(out.encode("latin-1") + page.body)
        await writer.drain()
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


async def _send_slowly(writer: asyncio.StreamWriter, page: Page) -> None:
    head = f"HTTP/1.1 {page.status} OK\r\nContent-Length: {len(page.body)}\r\n"
    writer.write((head + "".join(f"{k}: {v}\r\n" for k, v in page.headers) + "\r\n").encode())
    for i in range(0, len(page.body), 4096):
        writer.write(page.body[i : i + 4096])
        await writer.drain()
        await asyncio.sleep(0.125)  # 4 KiB per 1/8 s: 32 KiB/s, a throttled link


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST (SO_LINGER 0), as a censor's injected reset looks to the client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
