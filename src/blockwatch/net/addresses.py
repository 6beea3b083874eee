"""Which addresses are public: bogon detection for DNS answers and the helper's SSRF guard.

The answer comes from the explicit IANA tables in :mod:`blockwatch.net.ranges`, never from
``ipaddress.is_global`` (whose answer depends on the Python build).
"""

from __future__ import annotations

import ipaddress

from blockwatch.ipranges import classify


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 for every purpose here
    return ip


def is_public(text: str) -> bool:
    """True for globally reachable unicast addresses, and IPv6 forms wrapping only such IPv4
    (6to4, NAT64, mapped, Teredo...); False for anything else, including a non-address."""
    return classify(text).public


def is_bogon(text: str) -> bool:
    """OONI's bogon: an address that cannot be a public server's (private, reserved...)."""
    return not is_public(text)


def is_ip_literal(host: str) -> bool:
    return parse_ip(host.strip("[]")) is not None


def endpoint(ip: str, port: int) -> str:
    """OONI's "ip:port" spelling, with brackets for IPv6."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def split_endpoint(text: str) -> tuple[str, int]:
    """Inverse of :func:`endpoint`; raises ValueError on a malformed endpoint."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if not rest.startswith(":"):
            raise ValueError(f"bad endpoint {text!r}")
        port = int(rest[1:])
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"bad endpoint {text!r}")
        port = int(port_text)
    if parse_ip(host) is None or not 0 < port < 65536:
        raise ValueError(f"bad endpoint {text!r}")
    return host, port


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """Split "ip", "ip:port", "[v6]:port" or a bare IPv6 address; ValueError on a bad port."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        if not port.isdigit():
            raise ValueError(f"bad port in {text!r}")
        return host, int(port)
    return text, default_port
