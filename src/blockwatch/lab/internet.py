"""The lab's internet, run inside its namespace: ``python -m blockwatch.lab.internet``.

Origins (HTTP :80 and HTTPS :443, one certificate of the lab CA naming every site), the
authoritative DNS for the lab's names on 10.66.0.53, the scenario's tool servers (its
``tools`` config, ``toolservers.start_tools``; the obfs4 bridge's line goes in its ready
line), and site outages: a command
``{"sites_down": [ip, ...]}`` makes those origins unreachable for everyone, control
included, so the analyzer sees a site that is down rather than a blocked one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import orjson

from blockwatch.errors import LabError
from blockwatch.lab.agentio import command_loop
from blockwatch.lab.toolservers import start_tools
from blockwatch.pki import CertificateAuthority

AUTH_DNS = "10.66.0.53"
MAX_HEAD = 16 * 1024
ORIGIN_PROCESSES = 2
FILLER = b"The quick brown fox jumps over the lazy dog. "


def page(domain: str, size: int) -> bytes:
    """A page of exactly ``size`` bytes with the site's name as its title."""
    head = f"<html><head><title>{domain} lab origin</title></head><body><h1>{domain}</h1><p>"
    tail = b"</p></body></html>"
    room = max(0, size - len(head) - len(tail))
    return head.encode() + (FILLER * (room // len(FILLER) + 1))[:room] + tail


def response(pages: dict[str, bytes], head: bytes) -> bytes:
    host = ""
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"host:"):
            host = line[5:].strip().decode("latin-1").lower().split(":")[0]
    body = pages.get(host)
    status = "200 OK" if body is not None else "404 Not Found"
    body = body if body is not None else b"<html><title>Not found</title></html>"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nServer: lab-origin\r\n"
        f"X-Lab-Origin: {host or '-'}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def zone_answer(zone: dict[str, str], wire: bytes) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
        question = query.question[0]
    except (dns.exception.DNSException, IndexError):
        return None
    name = str(question.name).rstrip(".").lower()
    reply = dns.message.make_response(query)
    if name not in zone:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.A:
        reply.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", zone[name]))
    return reply.to_wire()


def serve_authority(zone: dict[str, str], sock: socket.socket) -> None:
    """The authoritative DNS, in a thread of its own: TLS work never delays an answer."""
    while True:
        try:
            data, addr = sock.recvfrom(4096)
        except OSError:
            return
        reply = zone_answer(zone, data)
        if reply is not None:
            with contextlib.suppress(OSError):
                sock.sendto(reply, addr)


def outage_rules(ips: list[str]) -> str:
    elems = f"elements = {{ {', '.join(sorted(set(ips)))} }}" if ips else ""
    return (
        "add table inet bwlab\ndelete table inet bwlab\ntable inet bwlab {\n"
        f"  set down4 {{ type ipv4_addr; {elems} }}\n"
        "  chain bw_in {\n    type filter hook input priority filter; policy accept;\n"
        # A site that is down refuses connections (TCP ignores ICMP errors while
        # connecting, and would only time out): fast, and the same for the control.
        "    ip daddr @down4 meta l4proto tcp reject with tcp reset\n"
        "    ip daddr @down4 reject with icmpx host-unreachable\n  }\n}\n"
    )


def apply(command: dict[str, Any]) -> None:
    script = outage_rules([str(ip) for ip in command.get("sites_down", [])])
    done = subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True)
    if done.returncode != 0:
        raise LabError(f"nft refused the outage rules: {done.stderr.decode(errors='replace')}")


async def serve_origins(pages: dict[str, bytes], tls: ssl.SSLContext) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(response(pages, head[:MAX_HEAD]))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except ssl.SSLError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    opts: dict[str, Any] = {"limit": MAX_HEAD, "backlog": 512, "reuse_port": True}
    await asyncio.start_server(serve, "0.0.0.0", 80, **opts)
    await asyncio.start_server(serve, "0.0.0.0", 443, ssl=tls, **opts)


async def _origin_only(pages: dict[str, bytes], tls: ssl.SSLContext) -> None:
    await serve_origins(pages, tls)
    await asyncio.Event().wait()


async def main_async(
    pages: dict[str, bytes], tls: ssl.SSLContext, tools: dict[str, Any], ca: CertificateAuthority
) -> None:
    await serve_origins(pages, tls)
    apply({})
    # The scenario's tool servers (tor relays, the obfs4 bridge, OpenVPN) are this agent's
    # children: stopped when it ends, killed with it (PR_SET_PDEATHSIG) when it is killed.
    servers = await start_tools(tools, ca) if tools else []
    hello = {s.name: s.params for s in servers if s.params}
    try:
        await command_loop(apply, hello)
    finally:
        await asyncio.gather(*(s.stop() for s in servers), return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockwatch.lab.internet")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = orjson.loads(args.config.read_bytes())
    sites: list[dict[str, Any]] = config["sites"]
    pages = {s["domain"]: page(s["domain"], int(s["body_bytes"])) for s in sites}
    ca = CertificateAuthority.load(Path(config["ca_dir"]), "lab-ca")
    tls = ca.server_context([s["domain"] for s in sites], "origins")
    # TLS handshakes are the busiest work of a round: a second origin process on the
    # same ports (SO_REUSEPORT) uses the second core. Forked before any thread exists.
    for _ in range(ORIGIN_PROCESSES - 1):
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            try:
                asyncio.run(_origin_only(pages, tls))
            finally:
                os._exit(0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((AUTH_DNS, 53))
    zone = {s["domain"]: s["ip"] for s in sites}
    threading.Thread(target=serve_authority, args=(zone, sock), daemon=True).start()
    try:
        asyncio.run(main_async(pages, tls, config.get("tools") or {}, ca))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
