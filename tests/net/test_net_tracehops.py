"""The hop analysis of `blockwatch trace` (pure) and the packets it sends and reads."""

from __future__ import annotations

import socket
import struct

import dns.message
import pytest

from blockwatch.net.trace import (
    CONNECTED,
    DATA,
    REACHED,
    RESET,
    SILENCE,
    TIME_EXCEEDED,
    HopReply,
    client_hello,
    http_request,
    parse_icmp_error,
)
from blockwatch.net.tracehops import Tampering, distance, first_tampering

ROUTERS = ["10.0.1.1", "10.0.2.1", "10.0.3.1", "10.0.4.1"]
DST = "192.0.2.10"


def te(ttl: int) -> HopReply:
    return HopReply(ttl, TIME_EXCEEDED, ROUTERS[ttl - 1], 0.001)


def path_to(dst_ttl: int) -> list[HopReply]:
    return [te(t) for t in range(1, dst_ttl)] + [HopReply(dst_ttl, REACHED, DST)]


def test_a_reset_after_two_routers_is_the_third_hop() -> None:
    control = [te(1), te(2), HopReply(3, DATA, DST, data=b"\x16\x03\x03")]
    test = [te(1), te(2), HopReply(3, RESET, DST)]
    hit = first_tampering("tls", test, control, path_to(5))
    assert hit == Tampering("tls", "reset", 3, ROUTERS[2], ROUTERS[1])


def test_a_blockpage_is_found_by_its_fingerprint_not_by_being_data() -> None:
    control = [te(1), HopReply(2, DATA, DST, data=b"HTTP/1.1 200 OK\r\n\r\nhello")]
    page = b"HTTP/1.1 200 OK\r\n\r\nblocked by order"
    test = [te(1), HopReply(2, DATA, DST, data=page)]
    hit = first_tampering("http", test, control, path_to(3), lambda d: b"blocked" in d)
    assert hit is not None and (hit.kind, hit.hop) == ("blockpage", 2)
    assert first_tampering("http", test, control, path_to(3)) is None


def test_silence_where_the_control_answered_is_tampering() -> None:
    control = [te(1), te(2), HopReply(3, DATA, DST, data=b"x")]
    test = [te(1), te(2), HopReply(3, SILENCE)]
    hit = first_tampering("tls", test, control, path_to(4))
    assert hit is not None and (hit.kind, hit.hop, hit.address) == ("silence", 3, ROUTERS[2])


def test_a_syn_dropped_from_a_hop_on_is_silence_after_the_last_router() -> None:
    test = [te(1), te(2), HopReply(3, SILENCE), HopReply(4, SILENCE), HopReply(5, SILENCE)]
    path = [te(1), te(2), HopReply(3, SILENCE), HopReply(4, SILENCE)]
    hit = first_tampering("tcp", test, None, path)
    assert hit == Tampering("tcp", "silence", 3, None, ROUTERS[1])


def test_the_servers_own_refusal_is_not_tampering() -> None:
    # The traceroute reached the destination at the TTL where the SYN got its reset.
    test = [te(1), te(2), HopReply(3, RESET, DST)]
    assert first_tampering("tcp", test, None, path_to(3)) is None
    # The same reset two hops before the destination is injected.
    hit = first_tampering("tcp", test, None, path_to(5))
    assert hit is not None and (hit.kind, hit.hop, hit.address) == ("reset", 3, ROUTERS[2])


def test_an_open_path_has_no_tampering() -> None:
    syn = [te(1), te(2), HopReply(3, CONNECTED, DST)]
    assert first_tampering("tcp", syn, None, path_to(3)) is None
    control = [te(1), te(2), HopReply(3, DATA, DST, data=b"a")]
    test = [te(1), te(2), HopReply(3, DATA, DST, data=b"b")]
    assert first_tampering("tls", test, control, path_to(3)) is None
    assert distance(test) == 3


def test_a_dns_answer_before_the_servers_distance_is_injected() -> None:
    control = [te(1), te(2), te(3), HopReply(4, "answer", DST, data=b"a")]
    test = [te(1), te(2), HopReply(3, "answer", DST, data=b"b")]
    hit = first_tampering("dns", test, control, control)
    assert hit is not None and (hit.kind, hit.hop, hit.address) == (
        "injected_answer",
        3,
        ROUTERS[2],
    )
    honest = [te(1), te(2), te(3), HopReply(4, "answer", DST, data=b"b")]
    assert first_tampering("dns", honest, control, control) is None


def _icmp(sender: str, icmp_type: int, proto: int, sport: int, dst: str, dport: int) -> bytes:
    outer = (
        bytes([0x45, 0]) + b"\x00" * 10 + socket.inet_aton(sender) + socket.inet_aton("10.9.9.9")
    )
    inner = bytes([0x45, 0]) + b"\x00" * 7 + bytes([proto]) + b"\x00" * 2
    inner += socket.inet_aton("10.9.9.9") + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return outer + bytes([icmp_type, 0]) + b"\x00" * 6 + inner + b"\x00" * 4


def test_an_icmp_error_is_matched_by_the_packet_it_quotes() -> None:
    err = parse_icmp_error(_icmp("10.0.2.1", 11, 6, 40000, DST, 443))
    assert err is not None
    assert (err.sender, err.type, err.protocol, err.src_port, err.dst, err.dst_port) == (
        "10.0.2.1", 11, 6, 40000, DST, 443,
    )  # fmt: skip
    assert parse_icmp_error(_icmp("10.0.2.1", 0, 6, 1, DST, 2)) is None  # an echo reply
    assert parse_icmp_error(b"\x45" + b"\x00" * 10) is None


@pytest.mark.parametrize("name", ["x.com", "a.very.long-name.example.org"])
def test_the_client_hello_carries_the_sni(name: str) -> None:
    hello = client_hello(name)
    assert hello[0] == 0x16 and name.encode() in hello  # a TLS handshake record


def test_the_request_carries_the_host_and_dns_queries_parse() -> None:
    assert b"\r\nHost: x.com\r\n" in http_request("x.com", "/a?b")
    assert http_request("x.com", "/a?b").startswith(b"GET /a?b HTTP/1.1\r\n")
    assert dns.message.make_query("x.com", "A").question
