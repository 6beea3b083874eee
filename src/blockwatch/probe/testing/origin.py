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
    "policed",  # the real page at 64 kbit/s in 1 KiB pieces (a policer; outlasts timeouts)
    "stall",  # 200, the first 4 KiB of the page, then silence
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
    names: set[str] | None = None  # None: every name; else only these (Host or SNI) suffer
    _listener: socket.socket | None = None
    _accepting: asyncio.Task[None] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> Origin:
        assert self.behaviour in BEHAVIOURS, self.behaviour
        # Our own accept loop: TLS origins peek at the ClientHello (SNI) before deciding
        # whether to censor, which asyncio.start_server's eager reading would not allow.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, self.port))
        self._listener.listen(512)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._accepting = asyncio.create_task(self._accept_loop())
        return self

    async def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _act(self, peer: str, name: str | None) -> str:
        if self.victim not in (None, peer):
            return "normal"
        if self.names is not None and name not in self.names:
            return "normal"
        return self.behaviour

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            sock, addr = await loop.sock_accept(self._listener)
            task = asyncio.create_task(self._serve(sock, addr[0]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket, peer: str) -> None:
        loop = asyncio.get_running_loop()
        writer: asyncio.StreamWriter | None = None
        try:
            sock.setblocking(False)
            ctx = None
            if self.tls is not None:
                sni = parse_sni(await _peek(sock))
                act = self._act(peer, sni)
                if act in ("tls_reset", "tls_stall", "tls_eof"):
                    if act == "tls_reset":
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    elif act == "tls_stall":
                        await asyncio.sleep(3600)
                    return
                ctx = self.mitm_tls if act == "tls_mitm" and self.mitm_tls else self.tls
            reader = asyncio.StreamReader(limit=1 << 16)
            protocol = asyncio.StreamReaderProtocol(reader)
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, sock, ssl=ctx, ssl_handshake_timeout=5 if ctx else None
            )
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            await self._handle(reader, writer, peer)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            if writer is not None:
                writer.transport.abort()
            else:
                sock.close()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        host = ""
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line.lower().startswith("host:"):
                host = line.split(":", 1)[1].strip().rsplit(":", 1)[0].lower()
        act = self._act(peer, host)
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
        if act == "policed":
            return await _send_slowly(writer, page, piece=1024, pause=0.125)
        if act == "stall":
            first = Page(page.status, page.body[:4096], page.headers)
            await _send_slowly(writer, first, len(page.body))
            await asyncio.sleep(60)  # the Content-Length promises more: the probe waits
            return
        reason = {200: "OK", 301: "Moved", 302: "Found", 404: "Not Found"}.get(page.status, "X")
        out = f"HTTP/1.1 {page.status} {reason}\r\n"
        out += "".join(f"{k}: {v}\r\n" for k, v in page.headers)
        out += f"Content-Length: {len(page.body)}\r\nConnection: close\r\n\r\n"
        writer.write(out.encode("latin-1") + page.body)
        await writer.drain()
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


async def _send_slowly(
    writer: asyncio.StreamWriter,
    page: Page,
    length: int | None = None,
    *,
    piece: int = 4096,
    pause: float = 0.125,
) -> None:
    """The page, ``piece`` bytes per ``pause`` (default 4 KiB per 1/8 s: 32 KiB/s);
    ``length`` is the Content-Length announced (default: the body's)."""
    length = len(page.body) if length is None else length
    head = f"HTTP/1.1 {page.status} OK\r\nContent-Length: {length}\r\n"
    writer.write((head + "".join(f"{k}: {v}\r\n" for k, v in page.headers) + "\r\n").encode())
    for i in range(0, len(page.body), piece):
        writer.write(page.body[i : i + piece])
        await writer.drain()
        await asyncio.sleep(pause)


async def _peek(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """The bytes waiting on ``sock`` (the ClientHello), without consuming them."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(sock.fileno())
    return sock.recv(16384, socket.MSG_PEEK)


def parse_sni(hello: bytes) -> str | None:
    """The server_name of a TLS ClientHello record, or None."""
    try:
        if hello[0] != 0x16 or hello[5] != 0x01:
            return None
        i = 9 + 2 + 32  # record header, handshake header, client_version, random
        i += 1 + hello[i]  # session id
        i += 2 + int.from_bytes(hello[i : i + 2], "big")  # cipher suites
        i += 1 + hello[i]  # compression methods
        end = i + 2 + int.from_bytes(hello[i : i + 2], "big")
        i += 2
        while i + 4 <= end:
            kind = int.from_bytes(hello[i : i + 2], "big")
            size = int.from_bytes(hello[i + 2 : i + 4], "big")
            if kind == 0:  # server_name: list length, name type, name length, name
                n = int.from_bytes(hello[i + 7 : i + 9], "big")
                return hello[i + 9 : i + 9 + n].decode("ascii").lower()
            i += 4 + size
    except (IndexError, UnicodeDecodeError):
        return None
    return None


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST (SO_LINGER 0), as a censor's injected reset looks to the client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
