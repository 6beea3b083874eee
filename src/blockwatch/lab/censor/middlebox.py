"""The censor's transparent middlebox: it sees the name (SNI or Host) and acts on it.

nftables redirects web traffic for the addresses of watched names here; the original
destination comes back from ``SO_ORIGINAL_DST``. The first bytes are *peeked* (MSG_PEEK),
not read, so a connection that is let through (or man-in-the-middled) starts clean.
Threads with blocking sockets keep the code short; connections are bounded.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from blockwatch.lab.censor.blockpage import blockpage_response

SO_ORIGINAL_DST = 80
MAX_CONNECTIONS = 256
PEEK_LIMIT = 16 * 1024 + 5  # one TLS record or one HTTP request head
HOLD_SECONDS = 30.0  # how long a "timeout" technique keeps a connection silent
IDLE_SECONDS = 10.0
CHUNK = 2048  # throttled bytes per send: small, so the pace is smooth
STALL_AFTER = 6144  # http.timeout: response bytes let through before the flow stalls


@dataclass(frozen=True, slots=True)
class Rule:
    technique: str
    rate_bps: int = 0


def sni_of(data: bytes) -> str | None:
    """The server name of a TLS ClientHello (None: not one, or incomplete)."""
    try:
        if len(data) < 5 or data[0] != 0x16:
            return None
        end = 5 + struct.unpack("!H", data[3:5])[0]
        if len(data) < end or data[5] != 0x01:
            return None
        i = 5 + 4 + 2 + 32
        i += 1 + data[i]  # session id
        i += 2 + struct.unpack("!H", data[i : i + 2])[0]  # cipher suites
        i += 1 + data[i]  # compression methods
        ext_end = i + 2 + struct.unpack("!H", data[i : i + 2])[0]
        i += 2
        while i + 4 <= min(ext_end, end):
            etype, elen = struct.unpack("!HH", data[i : i + 4])
            if etype == 0:  # server_name: list length, name type, name length, name
                nlen = struct.unpack("!H", data[i + 7 : i + 9])[0]
                return data[i + 9 : i + 9 + nlen].decode("ascii").lower()
            i += 4 + elen
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return None


def host_of(head: bytes) -> str | None:
    """The Host of an HTTP request head (without a port)."""
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"host:"):
            host = line[5:].strip().decode("latin-1").lower()
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return None


def tls_complete(data: bytes) -> bool:
    return len(data) >= 5 and (
        data[0] != 0x16 or len(data) >= 5 + struct.unpack("!H", data[3:5])[0]
    )


class Middlebox:
    """Listens on ``ports`` ({port: is_tls}); ``rules`` maps a name to what is done to it."""

    def __init__(self, host: str, ports: dict[int, bool], mitm: Callable[[str], ssl.SSLContext]):
        self.host = host
        self.ports = ports
        self.mitm = mitm
        self.rules: dict[str, Rule] = {}
        self.original_dst = True  # False: a plain server (the blockpage address)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._socks: list[socket.socket] = []

    def start(self) -> None:
        for port, is_tls in self.ports.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            sock.listen(512)
            self._socks.append(sock)
            threading.Thread(target=self._accept, args=(sock, is_tls), daemon=True).start()

    def _accept(self, sock: socket.socket, is_tls: bool) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()  # over the bound: shed load rather than queue forever
                continue
            threading.Thread(target=self._serve, args=(conn, is_tls), daemon=True).start()

    def _serve(self, conn: socket.socket, is_tls: bool) -> None:
        try:
            conn.settimeout(IDLE_SECONDS)
            self._handle(conn, is_tls)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            conn.close()
            self._slots.release()

    def _handle(self, conn: socket.socket, is_tls: bool) -> None:
        first = _peek(conn, tls_complete if is_tls else lambda d: b"\r\n\r\n" in d)
        name = (sni_of(first) if is_tls else host_of(first)) or ""
        if not self.original_dst:  # the blockpage server: every name gets the page
            return _blockpage(conn, self.mitm(name or "blockpage.lab") if is_tls else None)
        rule = self.rules.get(name)
        t = rule.technique if rule else "none"
        if t in ("tls.reset", "http.reset") and t.startswith("tls.") == is_tls:
            if not is_tls:
                conn.recv(PEEK_LIMIT)  # the request arrived; the censor answers with a RST
            return _reset(conn)
        if t == "tls.timeout" and is_tls:
            return _hold(conn)
        if t == "tls.mitm" and is_tls:
            return _blockpage(conn, self.mitm(name))
        if t == "http.blockpage" and not is_tls:
            return _blockpage(conn, None)
        rate = rule.rate_bps if rule and t == "throttled" else 0
        stall = STALL_AFTER if t == "http.timeout" and not is_tls else None
        _relay(conn, _original_dst(conn), rate, stall)


def _peek(conn: socket.socket, complete: Callable[[bytes], bool]) -> bytes:
    deadline = time.monotonic() + 3.0
    data = b""
    while time.monotonic() < deadline:
        data = conn.recv(PEEK_LIMIT, socket.MSG_PEEK)
        if not data or complete(data) or len(data) >= PEEK_LIMIT:
            return data
        time.sleep(0.005)  # the rest of the record is in flight
    return data


def _original_dst(conn: socket.socket) -> tuple[str, int]:
    raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, addr = struct.unpack("!2xH4s8x", raw)
    return socket.inet_ntoa(addr), port


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _hold(conn: socket.socket) -> None:
    conn.settimeout(HOLD_SECONDS)
    while conn.recv(4096):  # swallow whatever comes; answer nothing
        pass


def _blockpage(conn: socket.socket, tls: ssl.SSLContext | None) -> None:
    stream: socket.socket = tls.wrap_socket(conn, server_side=True) if tls else conn
    head = b""
    while b"\r\n\r\n" not in head and len(head) < PEEK_LIMIT:
        chunk = stream.recv(4096)
        if not chunk:
            return
        head += chunk
    stream.sendall(blockpage_response())


def _relay(
    conn: socket.socket, dst: tuple[str, int], rate_bps: int, stall_after: int | None = None
) -> None:
    """Relay both ways; the response paced at ``rate_bps`` (0: full speed), or cut after
    ``stall_after`` bytes, from when on the flow stays open and silent (a stall)."""
    up = socket.create_connection(dst, timeout=3.0)
    try:
        up.settimeout(IDLE_SECONDS)
        pause = CHUNK * 8 / rate_bps if rate_bps else 0.0
        socks = [conn, up]
        budget = stall_after
        while True:
            ready, _, _ = select.select(socks, [], [], IDLE_SECONDS)
            if not ready:
                return
            for s in ready:
                other = up if s is conn else conn
                data = s.recv(CHUNK if pause and s is up else 65536)
                if not data:
                    return
                if budget is not None and s is up:
                    data = data[:budget]
                    budget -= len(data)
                other.sendall(data)
                if budget == 0:
                    return _hold(conn)
                if pause and s is up:
                    time.sleep(pause * len(data) / CHUNK)
    finally:
        up.close()
