"""The helper under a hostile client: a share of connections per client, and one deadline to
send a request, so slow connections from one address cannot lock anyone else out."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest

from blockwatch.control.helper import HelperConfig
from blockwatch.control.server import ControlServer, client_key
from blockwatch.control.slots import FairSlots
from blockwatch.net.timeouts import Timeouts
from blockwatch.probe.testing.loopnet import HELPER_TIMEOUTS, LoopNet

HOSTILE = "127.0.1.66"  # loopback is all of 127/8: each test client gets its own address
NORMAL = "127.0.1.77"
PARTIAL_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\n"  # never finished


async def connect(
    server: ControlServer, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(server.host, server.port, local_addr=(source, 0))


async def request(server: ControlServer, source: str, data: bytes) -> tuple[int, dict]:
    reader, writer = await connect(server, source)
    writer.write(data)
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def post(payload: dict) -> bytes:
    data = orjson.dumps(payload)
    return b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(data) + data


async def test_a_client_holding_600_slow_connections_cannot_starve_a_normal_one(
    net: LoopNet,
) -> None:
    url = await net.site("normal.test")
    config = HelperConfig(
        allow_private=True, resolver=net.honest_dns.address, timeouts=HELPER_TIMEOUTS
    )
    assert config.max_connections == 512 and config.max_connections_per_client == 64
    async with ControlServer(config) as server:
        hostile = await asyncio.gather(*(connect(server, HOSTILE) for _ in range(600)))
        for _, writer in hostile:
            writer.write(PARTIAL_HEAD)  # a slowloris: a head that never ends
        await asyncio.gather(*(w.drain() for _, w in hostile))
        # The server answers what it refuses at once and says nothing on what it holds.
        answers = [asyncio.ensure_future(reader.read(1)) for reader, _ in hostile]
        try:
            async with asyncio.timeout(8):  # (held ones would be cut after 10 s)
                while sum(a.done() for a in answers) < 600 - 64:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # and no more than those
            assert sum(not a.done() for a in answers) == 64  # its share, held
            status, body = await asyncio.wait_for(
                request(server, NORMAL, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 3
            )
            assert status == 200 and body["status"] == "ok"
            status, body = await asyncio.wait_for(
                request(server, NORMAL, post({"http_request": url, "tcp_connect": []})), 10
            )
            assert status == 200 and body["http_request"]["status_code"] == 200
            assert sum(not a.done() for a in answers) == 64  # still held meanwhile
        finally:
            for answer in answers:
                answer.cancel()
            await asyncio.gather(*answers, return_exceptions=True)
            for _, writer in hostile:
                writer.close()


async def test_connections_beyond_a_clients_share_get_a_503_naming_the_cause() -> None:
    config = HelperConfig(max_connections_per_client=3)
    async with ControlServer(config) as server:
        held = [await connect(server, HOSTILE) for _ in range(3)]
        for _, writer in held:
            writer.write(PARTIAL_HEAD)
        status, body = await request(server, HOSTILE, b"GET / HTTP/1.1\r\n\r\n")
        assert (status, body) == (503, {"error": "too many connections from your address"})
        status, _ = await request(server, NORMAL, b"GET / HTTP/1.1\r\n\r\n")
        assert status == 200
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.1)  # the server sees them go; the share is free again
        status, _ = await request(server, HOSTILE, b"GET / HTTP/1.1\r\n\r\n")
        assert status == 200


async def test_the_global_cap_still_holds_across_many_clients() -> None:
    config = HelperConfig(max_connections=4, max_connections_per_client=4)
    async with ControlServer(config) as server:
        held = [await connect(server, f"127.0.2.{i}") for i in range(1, 5)]
        for _, writer in held:
            writer.write(PARTIAL_HEAD)
        status, body = await request(server, NORMAL, b"GET / HTTP/1.1\r\n\r\n")
        assert (status, body) == (503, {"error": "too many connections"})
        for _, writer in held:
            writer.close()


@pytest.mark.parametrize("body_follows", [False, True])
async def test_a_request_trickled_a_byte_at_a_time_is_cut_off_at_one_deadline(
    body_follows: bool,
) -> None:
    """Head and body share one deadline from the accept: a byte every 50 ms keeps no
    connection alive past it, however the bytes are split between head and body (a deadline
    per phase would allow 1.6 s of head, then 2 s more of body)."""
    async with ControlServer(HelperConfig(read_timeout=2.0)) as server:
        reader, writer = await connect(server, HOSTILE)
        loop = asyncio.get_running_loop()
        started = loop.time()
        head = b"POST / HTTP/1.1\r\nContent-Length: 900\r\n\r\n" if body_follows else b""

        async def trickle() -> None:
            for byte in head:  # the whole head within about 1.6 s
                writer.write(bytes([byte]))
                await asyncio.sleep(1.6 / len(head))
            for _ in range(900):  # then a byte every 50 ms (the head, if there was none)
                writer.write(b"x")
                await asyncio.sleep(0.05)

        task = asyncio.create_task(trickle())
        try:
            response = await asyncio.wait_for(reader.read(), 5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
            writer.close()
        elapsed = loop.time() - started
        assert response.startswith(b"HTTP/1.1 408 "), response
        assert 1.9 <= elapsed < 3.2, elapsed  # one deadline, not one per phase


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("::ffff:203.0.113.7", 5000, 0, 0), "203.0.113.7"),
        (("2001:db8:1:2::1", 5000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:ffff::9", 5000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:3::1", 5000, 0, 0), "2001:db8:1:3::/64"),
        (("fe80::1%eth0", 5000, 0, 2), "fe80::/64"),
    ],
)
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(peer: tuple, key: str) -> None:
    assert client_key(peer) == key


async def test_a_freed_work_slot_goes_to_a_newcomer_before_a_busy_clients_queue(
    net: LoopNet,
) -> None:
    url = await net.site("slow.test", behaviour="trickle", victim=None)
    config = HelperConfig(
        allow_private=True,
        resolver=net.honest_dns.address,
        timeouts=Timeouts(dns=1, connect=1, tls=1, http=0.4, total=5),
        max_concurrent=2,
    )
    finished: list[str] = []

    async def measure(source: str) -> None:
        status, _ = await request(server, source, post({"http_request": url, "tcp_connect": []}))
        assert status == 200
        finished.append(source)

    async with ControlServer(config) as server:
        busy = [asyncio.create_task(measure(HOSTILE)) for _ in range(6)]  # 2 run, 4 wait
        await asyncio.sleep(0.2)
        await measure(NORMAL)
        await asyncio.gather(*busy)
    # First come, first served would run all six first; the newcomer takes the next slot.
    assert finished.index(NORMAL) <= 3, finished


async def test_fair_slots_wake_the_waiting_client_that_runs_fewest() -> None:
    slots = FairSlots(2)
    await slots.acquire("a")
    await slots.acquire("a")
    order: list[str] = []

    async def wait(client: str) -> None:
        await slots.acquire(client)
        order.append(client)

    a3 = asyncio.create_task(wait("a"))
    gone = asyncio.create_task(wait("c"))
    b = asyncio.create_task(wait("b"))
    await asyncio.sleep(0)
    assert slots.waiting == 3
    gone.cancel()
    await asyncio.sleep(0)
    assert slots.waiting == 2
    slots.release("a")  # a runs 1, b none: b goes first though a3 came before it
    await asyncio.sleep(0)
    assert order == ["b"]
    slots.release("a")
    await asyncio.gather(a3, b)
    assert order == ["b", "a"] and slots.running == {"a": 1, "b": 1} and slots.waiting == 0


async def test_a_slot_granted_to_a_cancelled_waiter_is_passed_on() -> None:
    slots = FairSlots(1)
    await slots.acquire("x")
    waiter = asyncio.create_task(slots.acquire("y"))
    await asyncio.sleep(0)
    slots.release("x")  # granted to y ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.running == {}
    await asyncio.wait_for(slots.acquire("z"), 1)


async def test_an_answered_connection_the_client_has_not_closed_yet_holds_no_share() -> None:
    async with ControlServer(HelperConfig(max_connections_per_client=1)) as server:
        reader, writer = await connect(server, NORMAL)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 200 ")  # answered; still open
        status, _ = await request(server, NORMAL, b"GET / HTTP/1.1\r\n\r\n")
        assert status == 200
        writer.close()
