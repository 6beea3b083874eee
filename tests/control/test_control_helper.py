"""The control helper: OONI's protocol, clear 400s for junk, and its SSRF guard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import orjson
import pytest

from blockwatch.control.helper import HelperConfig
from blockwatch.control.server import ControlServer
from blockwatch.probe.control_client import control_request, health
from blockwatch.probe.testing.loopnet import HELPER_TIMEOUTS, PROBE_TIMEOUTS, LoopNet, Page


async def raw(server: ControlServer, data: bytes) -> tuple[int, dict]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(data)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def post(body: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % n + body


async def ask(server: ControlServer, payload: dict) -> dict:
    status, body = await raw(server, post(orjson.dumps(payload)))
    assert status == 200, body
    return body


@pytest.fixture
async def strict(net: LoopNet) -> AsyncIterator[ControlServer]:
    """A helper as deployed on the internet: no private targets."""
    server = ControlServer(
        HelperConfig(resolver=net.honest_dns.address, timeouts=HELPER_TIMEOUTS), "127.0.0.1", 0
    )
    await server.start()
    yield server
    await server.close()


async def test_get_is_a_health_check(net: LoopNet) -> None:
    assert net.control is not None
    status, body = await raw(net.control, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert status == 200 and body["status"] == "ok"
    assert await health(net.control.url, timeouts=PROBE_TIMEOUTS)


async def test_control_request_answers_dns_tcp_tls_http_and_ip_info(net: LoopNet) -> None:
    assert net.control is not None
    url = await net.site("ctl.test", tls=True)
    ip = net.honest_dns.zone["ctl.test"][0]
    port = urlsplit(url).port
    body = await ask(
        net.control,
        {"http_request": url, "http_request_headers": {}, "tcp_connect": [f"{ip}:{port}"]},
    )
    assert body["dns"] == {"failure": None, "addrs": [ip]}
    assert body["tcp_connect"][f"{ip}:{port}"] == {"status": True, "failure": None}
    assert body["tls_handshake"][f"{ip}:{port}"]["status"] is True
    http = body["http_request"]
    assert http["status_code"] == 200 and http["failure"] is None
    assert http["title"] == "Welcome to the ctl.test website" and http["body_length"] > 1000
    assert body["ip_info"][ip]["flags"] == 1 | 2 | 4 | 8


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"http_request": 5}',
        b'{"http_request": "ftp://x.test/"}',
        b'{"http_request": "http://a.test/", "tcp_connect": ["nonsense"]}',
        b'{"http_request": "http://a.test/", "tcp_connect": "1.2.3.4:80"}',
        b'{"http_request": "http://a.test/", "http_request_headers": [1]}',
        b'{"http_request": "http://a.test/", "http_request_headers": {"A": [5]}}',
    ],
)
async def test_malformed_request_gets_a_clear_400_and_the_server_lives_on(
    net: LoopNet, body: bytes
) -> None:
    assert net.control is not None
    status, answer = await raw(net.control, post(body))
    assert status == 400 and answer["error"]
    status, _ = await raw(net.control, b"GET / HTTP/1.1\r\n\r\n")
    assert status == 200


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (post(b"{}", length=10_000_000), 413),
        (b"POST / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"\x16\x03\x01garbage\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 40_000 + b"\r\n\r\n", 431),
        (b"DELETE / HTTP/1.1\r\n\r\n", 405),
    ],
)
async def test_oversized_or_broken_http_is_refused(
    net: LoopNet, data: bytes, expected: int
) -> None:
    assert net.control is not None
    status, _ = await raw(net.control, data)
    assert status == expected


@pytest.mark.parametrize(
    "target", ["127.0.0.1:80", "10.1.2.3:80", "169.254.169.254:80", "[::1]:80"]
)
async def test_probe_supplied_private_endpoints_are_refused(
    strict: ControlServer, target: str
) -> None:
    body = await ask(strict, {"http_request": "http://public.test/", "tcp_connect": [target]})
    assert body["tcp_connect"][target] == {"status": False, "failure": "private_address_refused"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
        "http://[::ffff:127.0.0.1]:9/",
    ],
)
async def test_private_url_is_not_fetched(strict: ControlServer, url: str) -> None:
    body = await ask(strict, {"http_request": url, "tcp_connect": []})
    assert body["http_request"]["failure"] == "private_address_refused"
    assert all(v["failure"] == "private_address_refused" for v in body["tcp_connect"].values())


async def test_name_resolving_to_a_private_address_is_not_fetched(
    net: LoopNet, strict: ControlServer
) -> None:
    url = await net.site("inside.test")
    body = await ask(strict, {"http_request": url, "tcp_connect": []})
    assert body["dns"]["addrs"] == net.honest_dns.zone["inside.test"]
    assert body["http_request"]["failure"] == "private_address_refused"
    assert body["ip_info"][body["dns"]["addrs"][0]]["flags"] & 4  # bogon


async def test_redirect_to_a_private_address_is_not_followed(net: LoopNet) -> None:
    secret = await net.site("secret.test")
    door_ip = net.allocate_ip()
    url = await net.site("door.test", ip=door_ip, page=Page(302, b"", [("Location", secret)]))
    config = HelperConfig(
        resolver=net.honest_dns.address, timeouts=HELPER_TIMEOUTS, allow_addresses=(door_ip,)
    )
    async with ControlServer(config, "127.0.0.1", 0) as server:
        body = await ask(server, {"http_request": url, "tcp_connect": []})
    assert body["http_request"]["failure"] == "private_address_refused"


async def test_allow_private_lets_the_lab_fetch_loopback_sites(net: LoopNet) -> None:
    assert net.control is not None  # LoopNet's helper runs with allow_private
    url = await net.site("lab.test")
    body = await ask(net.control, {"http_request": url, "tcp_connect": []})
    assert body["http_request"]["status_code"] == 200


async def test_client_returns_control_or_a_failure_string(net: LoopNet) -> None:
    assert net.control is not None
    url = await net.site("client.test")
    control, failure = await control_request(
        net.control.url, url=url, headers={}, tcp_connect=[], timeouts=PROBE_TIMEOUTS
    )
    assert failure is None and control and control["http_request"]["status_code"] == 200
    control, failure = await control_request(
        "http://127.0.0.1:9/", url=url, headers={}, tcp_connect=[], timeouts=PROBE_TIMEOUTS
    )
    assert control is None and failure == "connection_refused"


async def test_work_beyond_the_concurrency_cap_and_its_queue_is_turned_away(
    net: LoopNet,
) -> None:
    from blockwatch.net.timeouts import Timeouts

    url = await net.site("busy.test", behaviour="trickle", victim=None)
    config = HelperConfig(
        allow_private=True,
        resolver=net.honest_dns.address,
        timeouts=Timeouts(dns=1, connect=1, tls=1, http=0.4, total=5),
        max_concurrent=1,
    )
    async with ControlServer(config, "127.0.0.1", 0) as server:
        data = post(orjson.dumps({"http_request": url, "tcp_connect": []}))
        results = await asyncio.gather(*(raw(server, data) for _ in range(6)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 200, 200, 200, 503]
    assert all(
        b["http_request"]["failure"] == "generic_timeout_error" for s, b in results if s == 200
    )
