"""Bogon addresses: answers no public web site can have (private, loopback, reserved...)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from blockwatch.ipranges import classify


@lru_cache(maxsize=4096)
def is_bogon(address: str) -> bool:
    """True for an address no public site can have: private, loopback, link-local, multicast,
    reserved, unspecified, or IPv6 wrapping such an IPv4 (IANA's registries, ``ipranges``;
    not ``ipaddress.is_global``, whose answer depends on the Python build).

    A censor's resolver that answers such an address is lying (OONI's "bogon" rule).
    Not a valid IP at all (e.g. a CNAME leaked into a list) counts as not a bogon.
    """
    try:
        ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not classify(address).public
