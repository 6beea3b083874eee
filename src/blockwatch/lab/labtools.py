"""The tools of a lab scenario: ``[[tool]]`` tables, where their servers live, what the
probe measures of them, and their truth (pure).

A tool is one of the tool tests' series (``TOOLS``, ``analysis.records.TOOL_DOMAINS``):
``tor`` (relays, each an OR port and a directory port), ``tor-obfs4`` (an obfs4 bridge),
``openvpn`` (a server per transport), ``signal``, ``telegram``, ``whatsapp`` (HTTPS
front-ends, lab origins under their own names). Each server has an address of its own in
10.66.1.0/24, so blocking a tool by address never touches a website or another tool. A
policy names tools with ``tools = [...]`` and a technique the tool can suffer
(``TOOL_TECHNIQUES``); its truth row is that technique.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from blockwatch.errors import ScenarioError

TOOL_NET: Final = ipaddress.ip_network("10.66.1.0/24")
OR_PORT: Final = 9001
DIR_PORT: Final = 9030
OBFS4_PORT: Final = 9443
OPENVPN_PORT: Final = 1194
MAX_RELAYS: Final = 8
MAX_ENDPOINTS: Final = 8
APPS: Final = ("signal", "telegram", "whatsapp")
DPI: Final = "dpi.handshake"  # the censor's DPI on OpenVPN's opcode (no website technique)
# What a censor can do to each tool such that the truth is what a verdict can name. An
# address block (tcp.timeout) drops every packet to a tool's servers; DPI drops OpenVPN's
# hard reset and nothing else (obfs4 survives it); the apps' front-ends are websites. Left
# out: tcp.reset (a refused connection to a tool, with no control to compare, is a server
# that is down) and address blocks of OpenVPN (over UDP, a dropped address and a dropped
# handshake look alike: both are an unanswered hard reset).
TOOL_TECHNIQUES: Final = {
    "tor": frozenset({"tcp.timeout"}),
    "tor-obfs4": frozenset({"tcp.timeout"}),
    "openvpn": frozenset({DPI}),
    **{app: frozenset({"dns.nxdomain", "tcp.timeout", "tls.reset", "tls.timeout"}) for app in APPS},
}
DEFAULT_ENDPOINTS: Final = {
    "signal": ("https://chat.signal.org/", "https://storage.signal.org/"),
    "telegram": ("https://web.telegram.org/", "https://core.telegram.org/"),
    "whatsapp": ("https://web.whatsapp.com/", "https://v.whatsapp.net/v2/register"),
}
# The tool tests' series (analysis.records.TOOL_DOMAINS; a test keeps them equal). Not
# imported: the lab's internet agent reads this module and must stay light.
TOOLS: Final = tuple(TOOL_TECHNIQUES)
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True, slots=True)
class Tool:
    name: str  # one of TOOLS
    relays: int = 1  # tor
    transports: tuple[str, ...] = ("udp", "tcp")  # openvpn
    endpoints: tuple[str, ...] = ()  # apps: https:// URLs on lab origins

    @property
    def hosts(self) -> tuple[str, ...]:
        """The app's front-end names (lab origins), in order."""
        return tuple(dict.fromkeys(urlsplit(e).hostname or "" for e in self.endpoints))


@dataclass(frozen=True, slots=True)
class Server:
    """One address of a tool in the lab's internet, and what listens there."""

    tool: str
    key: str  # the censor's name for it (a relay, the bridge, an app's host name)
    ip: str


@dataclass(frozen=True, slots=True)
class Target:
    """One measurement a round makes of a tool: its test, its input, its series."""

    test: str
    input: str  # the measurement's input; an app's measurement has none: its name
    tool: str


def parse_tools(raw: Any) -> tuple[Tool, ...]:
    """``[[tool]]`` tables, validated."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise ScenarioError("tool", "must be an array of tables ([[tool]])")
    out: list[Tool] = []
    for i, item in enumerate(raw):
        key = f"tool[{i}]"
        name = item.get("name")
        if name not in TOOLS:
            raise ScenarioError(f"{key}.name", f"{name!r} is not one of {', '.join(TOOLS)}")
        if name in {t.name for t in out}:
            raise ScenarioError(f"{key}.name", f"tool {name!r} is defined twice")
        allowed = {"name"} | {"tor": {"relays"}, "openvpn": {"transports"}}.get(name, set())
        allowed |= {"endpoints"} if name in APPS else set()
        for k in item:
            if k not in allowed:
                raise ScenarioError(
                    f"{key}.{k}", f"unknown key (expected one of: {sorted(allowed)})"
                )
        out.append(_tool(name, item, key))
    return tuple(out)


def _tool(name: str, item: dict[str, Any], key: str) -> Tool:
    relays = item.get("relays", 1)
    if not isinstance(relays, int) or isinstance(relays, bool) or not 1 <= relays <= MAX_RELAYS:
        raise ScenarioError(f"{key}.relays", f"must be a number of relays, 1 to {MAX_RELAYS}")
    transports = item.get("transports", ["udp", "tcp"])
    if (
        not isinstance(transports, list)
        or not transports
        or not set(transports) <= {"udp", "tcp"}
        or len(set(transports)) != len(transports)
    ):
        raise ScenarioError(f"{key}.transports", 'must be a list of "udp" and/or "tcp"')
    endpoints = item.get("endpoints", list(DEFAULT_ENDPOINTS.get(name, ())))
    if name in APPS:
        if not isinstance(endpoints, list) or not 1 <= len(endpoints) <= MAX_ENDPOINTS:
            raise ScenarioError(f"{key}.endpoints", f"must be a list of 1 to {MAX_ENDPOINTS} URLs")
        for j, url in enumerate(endpoints):
            parts = urlsplit(url) if isinstance(url, str) else None
            host = parts.hostname if parts else None
            if parts is None or parts.scheme != "https" or parts.port or not host:
                raise ScenarioError(f"{key}.endpoints[{j}]", "must be an https URL without a port")
            if not _HOST.match(host):
                raise ScenarioError(f"{key}.endpoints[{j}]", f"{host!r} is not a domain name")
    return Tool(name, relays, tuple(transports), tuple(endpoints) if name in APPS else ())


def check_policy_tools(
    tools: tuple[str, ...], technique: str, sites: tuple[str, ...], key: str
) -> None:
    """A technique a policy's tools can suffer; DPI names OpenVPN alone."""
    if technique == DPI and (sites or set(tools) != {"openvpn"}):
        raise ScenarioError(
            f"{key}.technique", f"{DPI} (DPI on OpenVPN's opcode) is for tools = ['openvpn'] only"
        )
    for tool in tools:
        if technique not in TOOL_TECHNIQUES[tool]:
            allowed = ", ".join(sorted(TOOL_TECHNIQUES[tool]))
            raise ScenarioError(f"{key}.technique", f"{tool} can be blocked by {allowed}")


def check_hosts(tools: tuple[Tool, ...], domains: list[str]) -> None:
    """An app's front-end is its own origin: never a [[site]]'s name, nor another app's."""
    seen: dict[str, str] = {}
    for i, tool in enumerate(tools):
        for host in tool.hosts:
            if host in domains or host in seen:
                other = "a [[site]]" if host in domains else seen[host]
                raise ScenarioError(f"tool[{i}].endpoints", f"{host} is also {other}'s")
            seen[host] = tool.name


# -- the lab's layout -------------------------------------------------------------------


def servers(tools: tuple[Tool, ...]) -> list[Server]:
    """Every tool address, in a stable order: relays, the bridge, OpenVPN, app hosts."""
    out: list[Server] = []
    by_name = {t.name: t for t in tools}
    if "tor" in by_name:
        out += [Server("tor", f"relay{i}.tor.lab", "") for i in range(1, by_name["tor"].relays + 1)]
    if "tor-obfs4" in by_name:
        out.append(Server("tor-obfs4", "bridge.obfs4.lab", ""))
    if "openvpn" in by_name:
        out.append(Server("openvpn", "vpn.openvpn.lab", ""))
    for app in APPS:
        if app in by_name:
            out += [Server(app, host, "") for host in by_name[app].hosts]
    return [Server(s.tool, s.key, str(TOOL_NET[10 + i])) for i, s in enumerate(out)]


def targets(tools: tuple[Tool, ...], layout: list[Server]) -> list[Target]:
    """What one round measures of the tools, in a stable order (the truth rows' order)."""
    out: list[Target] = []
    by_name = {t.name: t for t in tools}
    for s in layout:
        if s.tool == "tor":
            out += [Target("tor", f"{s.ip}:{p}", "tor") for p in (OR_PORT, DIR_PORT)]
        elif s.tool == "tor-obfs4":
            out.append(Target("tor", f"{s.ip}:{OBFS4_PORT}", "tor-obfs4"))
        elif s.tool == "openvpn":
            out += [
                Target("openvpn", vpn_input(s.ip, t), "openvpn")
                for t in by_name["openvpn"].transports
            ]
    out += [Target(app, app, app) for app in APPS if app in by_name]
    return out


def vpn_input(ip: str, transport: str) -> str:
    """OONI's input URI of a lab OpenVPN endpoint (the probe's ``VPNTarget.input``)."""
    return f"openvpn://lab.corp/?address={ip}:{OPENVPN_PORT}&transport={transport}"


def targets_toml(
    tools: tuple[Tool, ...], layout: list[Server], obfs4_params: str, ca_file: str
) -> str:
    """The probe's targets file (``probe/data/tools.toml``'s shape) for the lab's tools."""
    lines: list[str] = ["# The lab's tool servers (written by the lab run)."]
    by_name = {t.name: t for t in tools}
    for s in layout:
        if s.tool == "tor":
            name = s.key.split(".")[0]
            for kind, port in (("or_port", OR_PORT), ("dir_port", DIR_PORT)):
                lines += ["[[tor]]", f'name = "{name}-{kind}"', f'address = "{s.ip}:{port}"']
                lines.append(f'kind = "{kind}"')
        elif s.tool == "tor-obfs4":
            lines += ["[[tor]]", 'name = "bridge"', f'address = "{s.ip}:{OBFS4_PORT}"']
            lines += ['kind = "obfs4"', f'params = "{obfs4_params}"', f'fingerprint = "{"F" * 40}"']
        elif s.tool == "openvpn":
            for t in by_name["openvpn"].transports:
                lines += ["[[openvpn]]", f'name = "lab-{t}"', f'address = "{s.ip}:{OPENVPN_PORT}"']
                lines += [f'transport = "{t}"', 'provider = "lab"']
    for app in APPS:
        if app in by_name:
            urls = ", ".join(f'"{e}"' for e in by_name[app].endpoints)
            lines += [f"[{app}]", f'ca_file = "{ca_file}"', f"endpoints = [{urls}]"]
    return "\n".join(lines) + "\n"


def tests(tools: tuple[Tool, ...]) -> list[str]:
    """The tool tests a round runs (OONI's names)."""
    names = {t.name for t in tools}
    out = ["tor"] if names & {"tor", "tor-obfs4"} else []
    return out + [n for n in ("openvpn", *APPS) if n in names]


def internet_spec(tools: tuple[Tool, ...], layout: list[Server], work: str) -> dict[str, Any]:
    """What the lab's internet agent starts (``toolservers.start_tools``); {} for none."""
    if not tools:
        return {}
    by_tool: dict[str, list[str]] = {}
    for s in layout:
        by_tool.setdefault(s.tool, []).append(s.ip)
    vpn = next((t for t in tools if t.name == "openvpn"), None)
    return {
        "work": work,
        "relays": by_tool.get("tor", []),
        "bridge": by_tool.get("tor-obfs4", [None])[0],
        "openvpn": by_tool.get("openvpn", [None])[0],
        "transports": list(vpn.transports) if vpn else [],
    }


def app_origins(layout: list[Server]) -> list[tuple[str, str]]:
    """(host, address) of the apps' front-ends: lab origins like the sites."""
    return [(s.key, s.ip) for s in layout if s.tool in APPS]


def censor_blocks(
    blocks: dict[str, list[Any]], layout: list[Server]
) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """A round's blocks of tools (by tool name) as the censor's: blocks and addresses by its
    servers' names (a relay's, the bridge's, an app host's)."""
    out: dict[str, list[Any]] = {}
    addresses: dict[str, str] = {}
    for s in layout:
        if s.tool in blocks:
            out[s.key] = blocks[s.tool]
            addresses[s.key] = s.ip
    return out, addresses
