"""The SSRF guard's classifier: explicit IANA tables, every spelling, embedded IPv4 judged."""

from __future__ import annotations

import ipaddress

import pytest

from blockwatch.analysis.bogons import is_bogon as analysis_is_bogon
from blockwatch.ipranges import IPV4_TABLE, IPV6_TABLE, classify, embedded_ipv4, parse_any_ip
from blockwatch.net.addresses import is_bogon, is_public

NOT_PUBLIC = [
    # IPv4 special-purpose blocks
    ("0.0.0.0", "This host"),
    ("0.1.2.3", "This network"),
    ("10.0.0.1", "Private-Use"),
    ("100.64.0.1", "Shared Address Space"),
    ("127.0.0.1", "Loopback"),
    ("127.255.255.254", "Loopback"),
    ("169.254.169.254", "Link Local"),
    ("172.16.0.1", "Private-Use"),
    ("172.31.255.255", "Private-Use"),
    ("192.0.0.100", "IETF Protocol Assignments"),
    ("192.0.0.1", "Service Continuity"),
    ("192.0.0.8", "dummy"),
    ("192.0.0.9", "Port Control Protocol Anycast"),
    ("192.0.0.170", "NAT64/DNS64 Discovery"),
    ("192.0.0.171", "NAT64/DNS64 Discovery"),
    ("192.0.2.1", "TEST-NET-1"),
    ("192.88.99.1", "6to4 Relay Anycast"),
    ("192.168.1.1", "Private-Use"),
    ("198.18.0.1", "Benchmarking"),
    ("198.19.255.255", "Benchmarking"),
    ("198.51.100.7", "TEST-NET-2"),
    ("203.0.113.9", "TEST-NET-3"),
    ("224.0.0.1", "Multicast"),
    ("233.252.0.1", "MCAST-TEST-NET"),
    ("239.255.255.250", "Multicast"),
    ("240.0.0.1", "Reserved"),
    ("255.255.255.255", "Limited Broadcast"),
    # legacy IPv4 spellings that inet_aton (and so a connect) reads
    ("2130706433", "Loopback"),  # decimal 127.0.0.1
    ("0x7f000001", "Loopback"),  # one hex number
    ("0x7f.1", "Loopback"),  # hex, two parts
    ("0177.0.0.1", "Loopback"),  # octal first byte
    ("0177.0000.0000.0001", "Loopback"),
    ("127.1", "Loopback"),  # two parts
    ("127.0.1", "Loopback"),  # three parts
    ("0X0A.0.0.1", "Private-Use"),
    ("012.0.0.1", "Private-Use"),  # 012 is octal 10, not decimal 12
    ("3232235777", "Private-Use"),  # 192.168.1.1
    ("0xa9.0xfe.0xa9.0xfe", "Link Local"),  # 169.254.169.254
    # IPv6 special-purpose blocks and the space outside Global Unicast
    ("::", "Unspecified"),
    ("::1", "Loopback"),
    ("[::1]", "Loopback"),
    ("0:0:0:0:0:0:0:1", "Loopback"),
    ("fe80::1", "Link-Local"),
    ("fe80::1%eth0", "Link-Local"),
    ("[fe80::1%25eth0]", "Link-Local"),
    ("fec0::1", "Site-Local"),
    ("feff::1", "Site-Local"),
    ("fc00::1", "Unique-Local"),
    ("fd12:3456::1", "Unique-Local"),
    ("ff02::1", "Multicast"),
    ("ff0e::1", "Multicast"),
    ("100::1", "Discard-Only"),
    ("100:0:0:1::1", "Dummy IPv6 Prefix"),
    ("2001:2::1", "Benchmarking"),
    ("2001:10::1", "ORCHID"),
    ("2001:1::1", "Port Control Protocol Anycast"),
    ("2001:1::3", "DNS-SD"),
    ("2001:db8::1", "Documentation"),
    ("3fff::1", "Documentation"),
    ("5f00::1", "Segment Routing"),
    ("4000::1", "outside Global Unicast"),
    ("1::1", "outside Global Unicast"),
    ("64:ff9b:1::808:808", "local-use NAT64"),  # the operator's own translator
    # IPv6 forms wrapping a non-public IPv4
    ("::ffff:127.0.0.1", "wrapping 127.0.0.1"),
    ("::ffff:7f00:1", "wrapping 127.0.0.1"),
    ("[::ffff:10.0.0.1]", "wrapping 10.0.0.1"),
    ("::ffff:169.254.169.254", "wrapping 169.254.169.254"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::10.0.0.1", "IPv4-compatible"),
    ("::ffff:0:127.0.0.1", "IPv4-translated"),
    ("2002:7f00:1::1", "6to4 2002::/16 wrapping 127.0.0.1"),
    ("2002:a00:1::", "6to4 2002::/16 wrapping 10.0.0.1"),
    ("2002:c0a8:101:1::1", "wrapping 192.168.1.1"),
    ("2002:a9fe:a9fe::1", "wrapping 169.254.169.254"),
    ("64:ff9b::7f00:1", "wrapping 127.0.0.1"),
    ("64:ff9b::10.0.0.1", "wrapping 10.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "wrapping 169.254.169.254"),
    # Teredo: server 65.54.227.120, client 127.0.0.1 stored inverted (0x80ffff fe)
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "wrapping 127.0.0.1"),
    # Teredo: server 10.0.0.1, client 8.8.8.8 (inverted f7f7:f7f7)
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "wrapping 10.0.0.1"),
    # RFC 4380's own example: client 192.0.2.45 (documentation)
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "wrapping 192.0.2.45"),
    # not an address at all
    ("", "not an IP"),
    ("localhost", "not an IP"),
    ("08.8.8.8", "not an IP"),  # 8 is no octal digit
    ("1.2.3.4.5", "not an IP"),
    ("256.1.1.1", "not an IP"),
    ("0x100000000", "not an IP"),
    ("1.2.3.4 junk", "not an IP"),
    ("::1::2", "not an IP"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "104.244.42.1",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.1",
    "192.31.196.1",  # AS112-v4 (globally reachable)
    "192.52.193.1",  # AMT
    "192.175.48.1",  # AS112 direct delegation
    "223.255.255.255",
    "134744072",  # decimal 8.8.8.8
    "0x08080808",
    "010.010.010.010",  # octal 8.8.8.8
    "2606:4700:4700::1111",
    "[2001:4860:4860::8888]",
    "2a00:1450:4001::1%eth0",
    "2001:3::1",  # AMT
    "2001:4:112::1",  # AS112-v6
    "2620:4f:8000::1",  # AS112 direct delegation
    "::ffff:8.8.8.8",
    "::ffff:0:8.8.8.8",
    "2002:808:808::1",  # 6to4 around 8.8.8.8
    "64:ff9b::8.8.8.8",  # NAT64 to 8.8.8.8
    "64:ff9b::6810:85e5",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, server and client public
]


@pytest.mark.parametrize(("address", "reason"), NOT_PUBLIC)
def test_non_public_addresses_are_refused_with_the_block_that_says_so(
    address: str, reason: str
) -> None:
    verdict = classify(address)
    assert not verdict.public, verdict
    assert reason.lower() in verdict.reason.lower(), verdict
    assert not is_public(address) and is_bogon(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    verdict = classify(address)
    assert verdict.public, verdict
    assert is_public(address) and not is_bogon(address)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        (" 8.8.8.8 ", "8.8.8.8"),
    ],
)
def test_every_spelling_a_connect_accepts_parses_to_the_same_address(
    spelling: str, canonical: str
) -> None:
    assert str(parse_any_ip(spelling)) == canonical


def test_teredo_and_6to4_carry_the_addresses_rfc_4380_and_3056_put_there() -> None:
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:3fff:fdd2")
    assert [str(a) for a in embedded_ipv4(teredo)] == ["65.54.227.120", "192.0.2.45"]
    sixtofour = ipaddress.IPv6Address("2002:c000:0204::1")
    assert [str(a) for a in embedded_ipv4(sixtofour)] == ["192.0.2.4"]
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1")) == ()


def test_the_answer_does_not_lean_on_the_python_builds_is_global() -> None:
    # 3.11's is_global calls these global; the tables do not.
    for address in ("2002:7f00:1::1", "fec0::1", "64:ff9b::7f00:1", "::ffff:0:7f00:1"):
        assert not is_public(address)


def test_every_table_row_is_a_valid_network_and_both_tables_cover_their_whole_space() -> None:
    v4 = {ipaddress.ip_network(net) for net, _, _ in IPV4_TABLE}
    v6 = {ipaddress.ip_network(net) for net, _, _ in IPV6_TABLE}
    assert ipaddress.ip_network("0.0.0.0/0") in v4 and ipaddress.ip_network("::/0") in v6
    assert all(n.version == 4 for n in v4) and all(n.version == 6 for n in v6)


@pytest.mark.parametrize(
    ("address", "bogon"),
    [
        ("2002:7f00:1::1", True),  # 6to4 around 127.0.0.1: public to some Python builds
        ("fec0::1", True),  # site-local: public to ipaddress on every version
        ("64:ff9b::a00:1", True),  # NAT64 around 10.0.0.1
        ("::ffff:192.168.1.1", True),
        ("10.10.34.35", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
        ("x.com", False),  # not an address at all: not a bogon
    ],
)
def test_the_analyzer_bogon_rule_reads_the_same_tables(address: str, bogon: bool) -> None:
    assert analysis_is_bogon(address) is bogon
