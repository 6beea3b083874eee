"""TTL-limited probes (the I/O edge of ``blockwatch trace``): one packet sent with a chosen
IP TTL, and what came back.

Each probe returns one :class:`HopReply`: an ICMP time-exceeded from the router where the
TTL ran out (its address), an ICMP unreachable, a TCP reset, data, a DNS answer, or
silence. ICMP errors are read on a raw socket (root) and matched to the probe by the
packet they quote (protocol, our port, destination address and port), so one listener
serves every probe of a trace. Everything is bounded: one wait per probe, data capped.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass

import dns.message
import dns.rcode
import dns.rdatatype

DATA_CAP = 16 * 1024  # what one reply may keep: enough for a blockpage's marker
DATA_IDLE = 0.15  # seconds of quiet that end a reply's data
UDP_BASE_PORT = 33434  # traceroute's ports: closed on the destination
FULL_TTL = 64

# Reply kinds. "reached": the destination itself answered the UDP probe (port unreachable).
TIME_EXCEEDED = "time_exceeded"
UNREACHABLE = "unreachable"
REACHED = "reached"
RESET = "reset"
DATA = "data"
CLOSED = "closed"
CONNECTED = "connected"
ANSWER = "answer"
SILENCE = "silence"
NO_CONNECTION = "no_connection"  # the handshake before the payload failed


@dataclass(frozen=True, slots=True)
class HopReply:
    """What one probe sent with ``ttl`` got back, and from where."""

    ttl: int
    kind: str
    address: str | None = None  # the ICMP sender, or the peer that answered
    rtt: float | None = None  # seconds
    data: bytes = b""  # the payload's reply (capped), or the DNS answer's wire form

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ttl": self.ttl, "kind": self.kind, "address": self.address}
        out["rtt_ms"] = None if self.rtt is None else round(self.rtt * 1000, 2)
        if self.data:
            out["bytes"] = len(self.data)
        return out


@dataclass(frozen=True, slots=True)
class IcmpError:
    sender: str
    type: int
    code: int
    protocol: int  # of the quoted packet
    src_port: int
    dst: str
    dst_port: int


def parse_icmp_error(packet: bytes) -> IcmpError | None:
    """An ICMP time-exceeded or unreachable (an IPv4 packet from a raw socket), or None."""
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8 + 20 or icmp[0] not in (3, 11):
        return None
    inner = icmp[8:]
    inner_ihl = (inner[0] & 0x0F) * 4
    if len(inner) < inner_ihl + 4:
        return None
    sport, dport = struct.unpack("!HH", inner[inner_ihl : inner_ihl + 4])
    return IcmpError(
        sender=socket.inet_ntoa(packet[12:16]),
        type=icmp[0],
        code=icmp[1],
        protocol=inner[9],
        src_port=sport,
        dst=socket.inet_ntoa(inner[16:20]),
        dst_port=dport,
    )


class IcmpListener:
    """A raw ICMP socket: every ICMP error this namespace receives (needs root)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> IcmpListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(65535)

    def match(self, protocol: int, src_port: int, dst: str, dst_port: int) -> IcmpError | None:
        """Read what is waiting; the error quoting this probe's packet, if any."""
        while True:
            try:
                packet = self.sock.recv(65535)
            except BlockingIOError:
                return None
            err = parse_icmp_error(packet)
            if err and (err.protocol, err.src_port, err.dst, err.dst_port) == (
                protocol, src_port, dst, dst_port,
            ):  # fmt: skip
                return err


def _icmp_reply(ttl: int, err: IcmpError, started: float) -> HopReply:
    kind = TIME_EXCEEDED if err.type == 11 else UNREACHABLE
    if err.type == 3 and err.sender == err.dst:
        kind = REACHED
    return HopReply(ttl, kind, err.sender, time.monotonic() - started)


def udp_probe(listener: IcmpListener, dst: str, ttl: int, wait: float) -> HopReply:
    """A traceroute packet to a closed port of ``dst``: which router's TTL ran out."""
    port = UDP_BASE_PORT + ttl
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.bind(("0.0.0.0", 0))
        local = sock.getsockname()[1]
        listener.drain()
        started = time.monotonic()
        sock.sendto(b"blockwatch trace", (dst, port))
        return _await_udp(listener, sock, local, dst, port, ttl, started, wait)


def dns_probe(listener: IcmpListener, server: str, qname: str, ttl: int, wait: float) -> HopReply:
    """A DNS query for ``qname``'s A record to ``server``:53 with this TTL."""
    query = dns.message.make_query(qname, dns.rdatatype.A).to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.bind(("0.0.0.0", 0))
        local = sock.getsockname()[1]
        listener.drain()
        started = time.monotonic()
        sock.sendto(query, (server, 53))
        return _await_udp(listener, sock, local, server, 53, ttl, started, wait)


def _await_udp(
    listener: IcmpListener,
    sock: socket.socket,
    local: int,
    dst: str,
    port: int,
    ttl: int,
    started: float,
    wait: float,
) -> HopReply:
    deadline = started + wait
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([listener.sock, sock], [], [], left)
        if listener.sock in ready and (err := listener.match(17, local, dst, port)):
            return _icmp_reply(ttl, err, started)
        if sock in ready:
            data, peer = sock.recvfrom(4096)
            if peer[0] == dst:  # anything else is not an answer to this query
                return HopReply(ttl, ANSWER, peer[0], time.monotonic() - started, data)
    return HopReply(ttl, SILENCE)


def syn_probe(listener: IcmpListener, dst: str, port: int, ttl: int, wait: float) -> HopReply:
    """A TCP SYN with this TTL: time-exceeded, a reset, a SYN-ACK (connected) or silence."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.bind(("0.0.0.0", 0))
        local = sock.getsockname()[1]
        sock.setblocking(False)
        listener.drain()
        started = time.monotonic()
        sock.connect_ex((dst, port))
        deadline = started + wait
        failed: int | None = None
        while (left := deadline - time.monotonic()) > 0:
            ready, writable, _ = select.select(
                [listener.sock], [sock] if failed is None else [], [], left
            )
            if ready and (err := listener.match(6, local, dst, port)):
                return _icmp_reply(ttl, err, started)
            if writable:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                rtt = time.monotonic() - started
                if code == 0:
                    return HopReply(ttl, CONNECTED, dst, rtt)
                if code == errno.ECONNREFUSED:
                    return HopReply(ttl, RESET, dst, rtt)
                # An ICMP error aborted the connect: its sender is on the raw socket soon.
                failed = code
                deadline = min(deadline, time.monotonic() + 0.3)
        return HopReply(ttl, UNREACHABLE if failed else SILENCE)
    finally:
        _abort(sock)


def stream_probe(
    listener: IcmpListener,
    dst: str,
    port: int,
    payload: bytes,
    ttl: int,
    wait: float,
    connect_timeout: float = 3.0,
) -> HopReply:
    """A normal TCP handshake, then ``payload`` (a ClientHello, a request) with this TTL."""
    try:
        sock = socket.create_connection((dst, port), timeout=connect_timeout)
    except OSError:
        return HopReply(ttl, NO_CONNECTION)
    try:
        local = sock.getsockname()[1]
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        listener.drain()
        started = time.monotonic()
        sock.sendall(payload)
        deadline = started + wait
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([listener.sock, sock], [], [], left)
            if sock in ready:
                return _read_reply(sock, ttl, dst, started)
            if listener.sock in ready and (err := listener.match(6, local, dst, port)):
                return _icmp_reply(ttl, err, started)
        return HopReply(ttl, SILENCE)
    finally:
        _abort(sock)


def _read_reply(sock: socket.socket, ttl: int, dst: str, started: float) -> HopReply:
    chunks: list[bytes] = []
    size = 0
    sock.settimeout(DATA_IDLE)
    while size < DATA_CAP:
        try:
            chunk = sock.recv(DATA_CAP - size)
        except ConnectionResetError:
            if not chunks:
                return HopReply(ttl, RESET, dst, time.monotonic() - started)
            break
        except (TimeoutError, OSError):
            break
        if not chunk:
            if not chunks:
                return HopReply(ttl, CLOSED, dst, time.monotonic() - started)
            break
        chunks.append(chunk)
        size += len(chunk)
    return HopReply(ttl, DATA, dst, time.monotonic() - started, b"".join(chunks))


def _abort(sock: socket.socket) -> None:
    # Back to a full TTL so the closing reset reaches the peer (a middlebox or a server
    # must not keep a half-open connection per probe), then close at once.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, FULL_TTL)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def client_hello(server_name: str) -> bytes:
    """The bytes of a TLS ClientHello carrying ``server_name`` as its SNI."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def http_request(host: str, path: str = "/") -> bytes:
    """A plain HTTP/1.1 GET for ``path`` with this Host header."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: blockwatch-trace\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")


def dns_answer(reply: HopReply) -> tuple[str, list[str]]:
    """(rcode, A addresses) of a DNS answer reply; ("malformed", []) if unreadable."""
    try:
        msg = dns.message.from_wire(reply.data)
    except Exception:  # dnspython raises many kinds for a malformed answer
        return "malformed", []
    addrs = [
        item.address for rrset in msg.answer if rrset.rdtype == dns.rdatatype.A for item in rrset
    ]
    return dns.rcode.to_text(msg.rcode()), addrs
