"""Bogon addresses: answers no public web site can have (private, loopback, reserved...)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=4096)
def is_bogon(address: str) -> bool:
    """True for private, loopback, link-local, multicast, reserved or unspecified addresses.

    A censor's resolver that answers such an address is lying (OONI's "bogon" rule).
    Not a valid IP at all (e.g. a CNAME leaked into a list) counts as not a bogon.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast
