"""Which addresses are public, from explicit range tables rather than ``ipaddress.is_global``.

``is_global`` changes with the Python build (3.11 calls ``2002:7f00:1::1``, 6to4 around
127.0.0.1, global; every version does so for site-local ``fec0::/10``), so the control
helper's SSRF guard reads its own tables, written from IANA's special-purpose address
registries. The rule: the most specific block an address falls in decides. A block is
public, not public, or wraps an IPv4 address (6to4, NAT64, IPv4-mapped and -compatible,
SIIT, Teredo): such an address is public only if every IPv4 address it carries is. In IPv6
only Global Unicast ``2000::/3`` is public by default; everything else in the IPv6 space
(reserved, unique-local, link-local, site-local, multicast) is not.

:func:`classify` reads every spelling of an address that a connect could be handed: the
IPv4 numbers ``inet_aton`` and browsers read (``2130706433``, ``0x7f.1``, ``0177.0.0.1``),
IPv6 in brackets or with a zone id (``[fe80::1%eth0]``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = ["AddressClass", "classify", "embedded_ipv4", "parse_any_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PUBLIC: Final = "public"
NOT_PUBLIC: Final = "not public"
WRAPS_IPV4: Final = "wraps IPv4"

# IANA IPv4 Special-Purpose Address Registry (iana-ipv4-special-registry, RFC 6890 and
# updates), with its "Globally Reachable" column, plus the IPv4 Address Space registry's
# multicast and reserved blocks and the Limited Broadcast address. Columns: block, name,
# public. Anycast addresses the registry marks globally reachable inside 192.0.0.0/24 (PCP,
# TURN) are refused all the same: an anycast address reaches the *nearest* such server,
# often one on our own network, and none serves web pages.
IPV4_TABLE: Final[tuple[tuple[str, str, str], ...]] = (
    ("0.0.0.0/0", "IPv4 unicast outside the special blocks", PUBLIC),
    ("0.0.0.0/8", '"This network"', NOT_PUBLIC),
    ("0.0.0.0/32", '"This host on this network"', NOT_PUBLIC),
    ("10.0.0.0/8", "Private-Use", NOT_PUBLIC),
    ("100.64.0.0/10", "Shared Address Space (CGNAT)", NOT_PUBLIC),
    ("127.0.0.0/8", "Loopback", NOT_PUBLIC),
    ("169.254.0.0/16", "Link Local", NOT_PUBLIC),
    ("172.16.0.0/12", "Private-Use", NOT_PUBLIC),
    ("192.0.0.0/24", "IETF Protocol Assignments", NOT_PUBLIC),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", NOT_PUBLIC),
    ("192.0.0.8/32", "IPv4 dummy address", NOT_PUBLIC),
    ("192.0.0.9/32", "Port Control Protocol Anycast (refused: anycast)", NOT_PUBLIC),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast (refused: anycast)", NOT_PUBLIC),
    ("192.0.0.170/31", "NAT64/DNS64 Discovery", NOT_PUBLIC),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", NOT_PUBLIC),
    ("192.31.196.0/24", "AS112-v4", PUBLIC),
    ("192.52.193.0/24", "AMT", PUBLIC),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", NOT_PUBLIC),
    ("192.168.0.0/16", "Private-Use", NOT_PUBLIC),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", PUBLIC),
    ("198.18.0.0/15", "Benchmarking", NOT_PUBLIC),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", NOT_PUBLIC),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", NOT_PUBLIC),
    ("224.0.0.0/4", "Multicast", NOT_PUBLIC),
    ("233.252.0.0/24", "Documentation (MCAST-TEST-NET)", NOT_PUBLIC),
    ("240.0.0.0/4", "Reserved", NOT_PUBLIC),
    ("255.255.255.255/32", "Limited Broadcast", NOT_PUBLIC),
)

# IANA IPv6 Special-Purpose Address Registry (iana-ipv6-special-registry), plus the IPv6
# Address Space registry's top-level blocks: only Global Unicast 2000::/3 is public; site-
# local fec0::/10 (deprecated by RFC 3879), multicast ff00::/8 and the IETF-reserved rest
# are not. Blocks that carry an IPv4 address (WRAPS_IPV4) are judged by that address; the
# registry says "N/A" for 6to4 and Teredo for that reason. The local-use NAT64 prefix
# 64:ff9b:1::/48 is an operator's own translator: not public, whatever it wraps. The three
# 2001:1::/128 anycast addresses are refused for the reason given for IPv4 above.
IPV6_TABLE: Final[tuple[tuple[str, str, str], ...]] = (
    ("::/0", "IPv6 space outside Global Unicast (reserved or special)", NOT_PUBLIC),
    ("2000::/3", "Global Unicast", PUBLIC),
    ("::/128", "Unspecified Address", NOT_PUBLIC),
    ("::1/128", "Loopback Address", NOT_PUBLIC),
    ("::/96", "IPv4-compatible Address (deprecated)", WRAPS_IPV4),
    ("::ffff:0:0/96", "IPv4-mapped Address", WRAPS_IPV4),
    ("::ffff:0:0:0/96", "IPv4-translated Address (SIIT)", WRAPS_IPV4),
    ("64:ff9b::/96", "IPv4-IPv6 Translat. (NAT64 well-known prefix)", WRAPS_IPV4),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local-use NAT64)", NOT_PUBLIC),
    ("100::/64", "Discard-Only Address Block", NOT_PUBLIC),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", NOT_PUBLIC),
    ("2001::/23", "IETF Protocol Assignments", NOT_PUBLIC),
    ("2001::/32", "TEREDO", WRAPS_IPV4),
    ("2001:1::1/128", "Port Control Protocol Anycast (refused: anycast)", NOT_PUBLIC),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast (refused: anycast)", NOT_PUBLIC),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast (refused)", NOT_PUBLIC),
    ("2001:2::/48", "Benchmarking", NOT_PUBLIC),
    ("2001:3::/32", "AMT", PUBLIC),
    ("2001:4:112::/48", "AS112-v6", PUBLIC),
    ("2001:10::/28", "Deprecated (previously ORCHID)", NOT_PUBLIC),
    ("2001:20::/28", "ORCHIDv2", PUBLIC),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", PUBLIC),
    ("2001:db8::/32", "Documentation", NOT_PUBLIC),
    ("2002::/16", "6to4", WRAPS_IPV4),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", PUBLIC),
    ("3fff::/20", "Documentation", NOT_PUBLIC),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", NOT_PUBLIC),
    ("fc00::/7", "Unique-Local", NOT_PUBLIC),
    ("fe80::/10", "Link-Local Unicast", NOT_PUBLIC),
    ("fec0::/10", "Site-Local (deprecated)", NOT_PUBLIC),
    ("ff00::/8", "Multicast", NOT_PUBLIC),
)


@dataclass(frozen=True, slots=True)
class _Block:
    network: Network
    name: str
    kind: str


def _blocks(table: tuple[tuple[str, str, str], ...]) -> tuple[_Block, ...]:
    blocks = [_Block(ipaddress.ip_network(net), name, kind) for net, name, kind in table]
    # Most specific first: the first block that holds an address decides.
    return tuple(sorted(blocks, key=lambda b: -b.network.prefixlen))


_IPV4_BLOCKS: Final = _blocks(IPV4_TABLE)
_IPV6_BLOCKS: Final = _blocks(IPV6_TABLE)
_TEREDO: Final = ipaddress.IPv6Network("2001::/32")
_SIXTOFOUR: Final = ipaddress.IPv6Network("2002::/16")


@dataclass(frozen=True, slots=True)
class AddressClass:
    """The answer for one address: public or not, and which block said so (and why)."""

    address: str  # the canonical spelling, or the input if it is no address at all
    public: bool
    reason: str  # e.g. "6to4 2002::/16 wrapping 127.0.0.1: Loopback 127.0.0.0/8"


def _block_of(ip: IPAddress) -> _Block:
    blocks = _IPV4_BLOCKS if ip.version == 4 else _IPV6_BLOCKS
    for block in blocks:
        if ip in block.network:
            return block
    raise AssertionError("the tables cover the whole address space")  # ::/0 and 0.0.0.0/0


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (none if its block wraps none).

    6to4 2002:AABB:CCDD::/48 carries AA.BB.CC.DD; Teredo 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC
    carries the server S and the client, whose address is stored inverted (XOR 0xffffffff);
    the /96 forms carry their last 32 bits.
    """
    if _block_of(ip).kind != WRAPS_IPV4:
        return ()
    value = int(ip)
    if ip in _TEREDO:
        server = (value >> 64) & 0xFFFFFFFF
        client = ~value & 0xFFFFFFFF
        return ipaddress.IPv4Address(server), ipaddress.IPv4Address(client)
    if ip in _SIXTOFOUR:
        return (ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF),)
    return (ipaddress.IPv4Address(value & 0xFFFFFFFF),)


@lru_cache(maxsize=4096)
def classify(text: str) -> AddressClass:
    """Public or not, with the reason; text that is no address at all is not public."""
    ip = parse_any_ip(text)
    if ip is None:
        return AddressClass(text, False, "not an IP address")
    block = _block_of(ip)
    where = f"{block.name} {block.network}"
    if block.kind != WRAPS_IPV4:
        return AddressClass(str(ip), block.kind == PUBLIC, where)
    assert isinstance(ip, ipaddress.IPv6Address)
    for inner in embedded_ipv4(ip):
        inner_block = _block_of(inner)
        if inner_block.kind != PUBLIC:
            why = f"{where} wrapping {inner}: {inner_block.name} {inner_block.network}"
            return AddressClass(str(ip), False, why)
    wrapped = ", ".join(str(inner) for inner in embedded_ipv4(ip))
    return AddressClass(str(ip), True, f"{where} wrapping public {wrapped}")


def parse_any_ip(text: str) -> IPAddress | None:
    """Every spelling a connect could be handed: ``[v6]``, zone ids, legacy IPv4 numbers."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    number = _legacy_ipv4(text)
    return None if number is None else ipaddress.IPv4Address(number)


def _legacy_ipv4(text: str) -> int | None:
    """``inet_aton``'s IPv4 forms: 1 to 4 parts, each decimal, 0x hex or 0-led octal; the
    last part fills the bytes left (``127.1`` is 127.0.0.1, ``2130706433`` too)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_legacy_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    *head, last = [n for n in numbers if n is not None]
    if any(n > 0xFF for n in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return value


_DIGITS: Final = {
    16: frozenset("0123456789abcdef"),
    8: frozenset("01234567"),
    10: frozenset("0123456789"),
}


def _legacy_number(part: str) -> int | None:
    part = part.lower()
    if part.startswith("0x"):
        base, digits = 16, part[2:]
    elif len(part) > 1 and part.startswith("0"):
        base, digits = 8, part[1:]
    else:
        base, digits = 10, part
    if not digits or not set(digits) <= _DIGITS[base]:
        return None
    return int(digits, base)
