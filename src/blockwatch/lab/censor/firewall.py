"""The censor's nftables rules as text (pure), and loading them (the one I/O function).

The whole table is replaced atomically on every change, so the rules in force are
exactly a function of the round's state. The rules act at the prerouting hook, before the
router's TTL check, as an in-path device does: a packet whose TTL runs out at the censor
is still censored there (``blockwatch trace`` finds the censor's own hop), and the
censor's time-exceeded answers only packets it lets through. Traffic from the vantage
(interface ``vp``):
- tcp.timeout: dropped (the probe's connect times out);
- tcp.reset: answered with a TCP RST (the probe sees the connection refused);
- tls.* / http.* / throttled: web ports redirected to the userspace middlebox, which
  decides per name (SNI or Host), so another name on the same address is untouched;
- dpi.handshake: OpenVPN's control-channel hard reset dropped by its opcode, over UDP and
  TCP, whatever the address (``openvpn_dpi_rules``);
- a network outage: everything from the vantage (the control path too) is answered
  with "host unreachable", as a router does when its uplink is gone.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from blockwatch.errors import LabError

TABLE = "bwlab"
VANTAGE_IF = "vp"
HTTP_REDIRECT_PORT = 8080
TLS_REDIRECT_PORT = 8443


def _set(name: str, addrs: Iterable[str]) -> str:
    elems = sorted(set(addrs))
    body = f"elements = {{ {', '.join(elems)} }}" if elems else ""
    return f"  set {name} {{ type ipv4_addr; {body} }}\n"


def ruleset(
    down: bool, drop: Iterable[str], reset: Iterable[str], mbox: Iterable[str], dpi: bool = False
) -> str:
    """The nft script that makes the censor do exactly this (``dpi``: drop OpenVPN's hard
    reset, to any address)."""
    vp = f'iifname "{VANTAGE_IF}"'
    cut = f"    {vp} reject with icmpx host-unreachable\n" if down else ""
    cut += openvpn_dpi_rules(vp) if dpi else ""
    return (
        f"add table inet {TABLE}\ndelete table inet {TABLE}\n"
        f"table inet {TABLE} {{\n"
        + _set("drop4", drop)
        + _set("reset4", reset)
        + _set("mbox4", mbox)
        + "  chain bw_path {\n    type filter hook prerouting priority mangle; policy accept;\n"
        + cut
        + f"    {vp} ip daddr @drop4 drop\n"
        f"    {vp} ip daddr @reset4 meta l4proto tcp reject with tcp reset\n"
        "  }\n"
        "  chain bw_pre {\n    type nat hook prerouting priority dstnat; policy accept;\n"
        f"    {vp} ip daddr @mbox4 tcp dport 80 redirect to :{HTTP_REDIRECT_PORT}\n"
        f"    {vp} ip daddr @mbox4 tcp dport 443 redirect to :{TLS_REDIRECT_PORT}\n"
        "  }\n}\n"
    )


def openvpn_dpi_rules(match: str = f'iifname "{VANTAGE_IF}"') -> str:
    """Rules that drop OpenVPN's control-channel hard reset: its opcode (7, any key id), the
    8-byte session id, then an empty ack array and packet id 0 (a client's first packet).
    Over UDP from the first payload byte, over TCP after the two-byte length (which, under
    1024, keeps TLS records and HTTP requests, whose first bytes are larger, out). The
    opcode alone would also drop one DNS query in 32 (its id's first byte) and random-looking
    streams (obfs4) now and then. The transport still works: only the VPN's own handshake
    goes unanswered."""
    opcode = f"& 0xf8 == {7 << 3:#x}"
    return (
        f"    {match} meta l4proto udp @th,64,8 {opcode} @th,136,8 0 @th,144,32 0 drop\n"
        f"    {match} meta l4proto tcp @ih,0,16 < 0x400 @ih,16,8 {opcode}"
        " @ih,88,8 0 @ih,96,32 0 drop\n"
    )


def load(script: str) -> None:
    """Load an nft script in the current network namespace."""
    try:
        done = subprocess.run(
            ["nft", "-f", "-"], input=script.encode(), capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"cannot run nft: {exc}") from exc
    if done.returncode != 0:
        raise LabError(f"nft refused the censor's rules: {done.stderr.decode(errors='replace')}")
