"""The helper refuses internal targets hidden in IPv6 forms, odd spellings, names and redirects.

It runs in a network namespace of its own with only ``lo``: each internal address below is put
on ``lo`` with a server listening on it, so a hole in the guard would show as a fetched page
(and a connection the server counts), never as traffic leaving the machine.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import orjson
import pytest

from blockwatch.control.helper import HelperConfig
from blockwatch.control.server import ControlServer
from blockwatch.net.timeouts import Timeouts
from blockwatch.probe.testing.dnsserver import DNSServer
from blockwatch.probe.testing.netns import netns_skip_reason, run_in_netns

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(netns_skip_reason() is not None, reason=str(netns_skip_reason())),
]
PORT = 8099  # the namespace is ours: a fixed port cannot clash
DOOR = "127.0.0.5"  # an origin the operator allowed, whose redirects lead inside
# Internal addresses Python 3.11's is_global calls global (or that wrap an internal IPv4).
INTERNAL = {
    "6to4 around 127.0.0.1": "2002:7f00:1::1",
    "site-local": "fec0::1",
    "NAT64 around 127.0.0.1": "64:ff9b::7f00:1",
    "local-use NAT64": "64:ff9b:1::7f00:1",
    "Teredo, client 127.0.0.1": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "SIIT around 127.0.0.1": "::ffff:0:7f00:1",
    "IPv4-compatible 127.0.0.2": "::127.0.0.2",
    "unique-local": "fd00::1",
}
# Belt and braces: the namespace has only lo, and nothing may leave by another interface.
RULES = """
table inet ssrftest {
  chain out { type filter hook output priority 0; policy accept; oif != "lo" drop; }
}
"""
# Generous: a refusal takes no time, but a loaded machine must not turn the DNS answer or the
# door's redirect into a timeout.
TIMEOUTS = Timeouts(dns=5, connect=5, tls=5, http=5, total=20)


class Inside:
    """A server on every internal address: counts who reached it."""

    def __init__(self) -> None:
        self.peers: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.peers.append(writer.get_extra_info("sockname")[0])
        body = b"internal secret"
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        writer.write(head + body)
        await writer.drain()
        writer.close()


async def ask(server: ControlServer, payload: dict) -> dict:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    data = orjson.dumps(payload)
    writer.write(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    response = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response
    return orjson.loads(body)


def url_of(ip: str, port: int = PORT) -> str:
    return f"http://[{ip}]:{port}/" if ":" in ip else f"http://{ip}:{port}/"


async def door(location: str) -> asyncio.Server:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(redirect, DOOR, 0)


async def probe_everything(inside: Inside) -> dict[str, dict]:
    """Every way in: URL, probe endpoint, DNS answer, system resolver spelling, redirect."""
    dns = await DNSServer(
        {f"n{i}.test": [ip] for i, ip in enumerate(INTERNAL.values())}, "127.0.0.53"
    ).start()
    own_dns = HelperConfig(resolver=dns.address, timeouts=TIMEOUTS, allow_addresses=(DOOR,))
    system = HelperConfig(timeouts=TIMEOUTS)  # getaddrinfo: numeric spellings, /etc/hosts
    answers: dict[str, dict] = {}
    async with ControlServer(own_dns) as helper, ControlServer(system) as sys_helper:
        for i, (label, ip) in enumerate(INTERNAL.items()):
            endpoint = f"[{ip}]:{PORT}"
            answers[f"url {label}"] = await ask(
                helper, {"http_request": url_of(ip), "tcp_connect": [endpoint]}
            )
            answers[f"name {label}"] = await ask(helper, {"http_request": url_of(f"n{i}.test")})
            server = await door(url_of(ip))
            port = server.sockets[0].getsockname()[1]
            answers[f"redirect {label}"] = await ask(helper, {"http_request": url_of(DOOR, port)})
            server.close()
        for spelling in ("2130706433", "0x7f.1", "0177.0.0.1", "127.1", "localhost"):
            answers[f"spelling {spelling}"] = await ask(
                sys_helper, {"http_request": url_of(spelling)}
            )
        answers["mapped"] = await ask(sys_helper, {"http_request": url_of("::ffff:127.0.0.1")})
    dns.close()
    return answers


def test_helper_refuses_internal_targets_in_every_form_and_none_is_reached(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[dict[str, dict], list[str], list[str]]:
        for ip in INTERNAL.values():
            subprocess.run(
                ["ip", "-6", "addr", "add", f"{ip}/128", "dev", "lo", "nodad"], check=True
            )
        inside = Inside()
        listener = await asyncio.start_server(inside.serve, None, PORT)  # every address
        # Each address is really there: a guard that let it through would fetch the secret.
        for ip in INTERNAL.values():
            _, writer = await asyncio.open_connection(ip, PORT)
            writer.close()
        async with asyncio.timeout(10):
            while len(inside.peers) < len(INTERNAL):  # until the server has seen them all
                await asyncio.sleep(0.01)
        reachable, inside.peers = list(inside.peers), []
        try:
            answers = await probe_everything(inside)
            await asyncio.sleep(0.2)  # a connection the helper made would be counted by now
            return answers, reachable, inside.peers
        finally:
            listener.close()

    answers, reachable, reached = run_in_netns(RULES, main)
    assert len(reachable) == len(INTERNAL)
    assert reached == []  # no connection from the helper arrived inside
    for label, answer in answers.items():
        assert answer["http_request"]["failure"] == "private_address_refused", (label, answer)
        for key, entry in answer["tcp_connect"].items():
            if not key.startswith(DOOR):  # the door itself is allowed; where it leads is not
                assert entry == {"status": False, "failure": "private_address_refused"}, label
