"""The tool tests' targets: Tor relays and bridges, OpenVPN servers, messaging endpoints.

One TOML file (``probe/data/tools.toml`` ships with the project; ``--targets`` overrides it);
its shape is documented at the top of that file. Bad entries are errors naming the entry.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from blockwatch.errors import ProbeError
from blockwatch.net.addresses import split_endpoint

__all__ = [
    "APPS",
    "DEFAULT_TARGETS",
    "TOR_KINDS",
    "AppTargets",
    "ToolTargets",
    "TorTarget",
    "VPNTarget",
    "load_targets",
]

DEFAULT_TARGETS: Final = Path(__file__).resolve().parent / "data" / "tools.toml"
TOR_KINDS: Final = ("or_port", "or_port_dirauth", "dir_port", "obfs4")
APPS: Final = ("signal", "telegram", "whatsapp")
MAX_TARGETS: Final = 256  # per section: a probe run stays bounded
SCHEMES: Final = ("tcp", "http", "https")


@dataclass(frozen=True, slots=True)
class TorTarget:
    name: str
    ip: str
    port: int
    kind: str
    params: str = ""  # obfs4: "cert=...;iat-mode=0"
    fingerprint: str = ""

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class VPNTarget:
    name: str
    ip: str
    port: int
    transport: str
    provider: str = "unknown"

    @property
    def input(self) -> str:
        """OONI's input URI for this endpoint (ts-040)."""
        return f"openvpn://{self.provider}.corp/?address={self.ip}:{self.port}&transport={self.transport}"


@dataclass(frozen=True, slots=True)
class AppTargets:
    app: str
    endpoints: tuple[str, ...]
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class ToolTargets:
    tor: tuple[TorTarget, ...] = ()
    openvpn: tuple[VPNTarget, ...] = ()
    apps: dict[str, AppTargets] = field(default_factory=dict)


def load_targets(path: Path | None = None) -> ToolTargets:
    """Read and check a targets file (the shipped one when ``path`` is None)."""
    path = path or DEFAULT_TARGETS
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProbeError(f"targets file {path}: {exc}") from exc
    unknown = set(data) - {"tor", "openvpn", *APPS}
    if unknown:
        raise ProbeError(f"targets file {path}: unknown sections {', '.join(sorted(unknown))}")
    tor = tuple(_tor(e, f"{path} [[tor]] #{i + 1}") for i, e in enumerate(_list(data, "tor", path)))
    vpn = tuple(
        _vpn(e, f"{path} [[openvpn]] #{i + 1}") for i, e in enumerate(_list(data, "openvpn", path))
    )
    apps: dict[str, AppTargets] = {app: _app(app, data[app], path) for app in APPS if app in data}
    return ToolTargets(tor, vpn, apps)


def _list(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or len(entries) > MAX_TARGETS:
        raise ProbeError(f"targets file {path}: {key} must be a list of at most {MAX_TARGETS}")
    return entries


def _address(entry: dict[str, Any], where: str) -> tuple[str, int]:
    try:
        return split_endpoint(str(entry["address"]))
    except (KeyError, ValueError) as exc:
        raise ProbeError(f"{where}: address must be ip:port ({exc})") from exc


def _tor(entry: Any, where: str) -> TorTarget:
    if not isinstance(entry, dict):
        raise ProbeError(f"{where}: not a table")
    ip, port = _address(entry, where)
    kind = str(entry.get("kind", "or_port"))
    if kind not in TOR_KINDS:
        raise ProbeError(f"{where}: kind must be one of {', '.join(TOR_KINDS)}, not {kind!r}")
    name = str(entry.get("name") or f"{ip}:{port}")
    return TorTarget(
        name, ip, port, kind, str(entry.get("params", "")), str(entry.get("fingerprint", ""))
    )


def _vpn(entry: Any, where: str) -> VPNTarget:
    if not isinstance(entry, dict):
        raise ProbeError(f"{where}: not a table")
    ip, port = _address(entry, where)
    transport = str(entry.get("transport", "udp"))
    if transport not in ("tcp", "udp"):
        raise ProbeError(f"{where}: transport must be tcp or udp, not {transport!r}")
    name = str(entry.get("name") or f"{ip}:{port}/{transport}")
    return VPNTarget(name, ip, port, transport, str(entry.get("provider", "unknown")))


def _app(app: str, entry: Any, path: Path) -> AppTargets:
    where = f"{path} [{app}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("endpoints"), list):
        raise ProbeError(f"{where}: needs an endpoints list")
    endpoints = tuple(str(e) for e in entry["endpoints"])
    if len(endpoints) > MAX_TARGETS:
        raise ProbeError(f"{where}: at most {MAX_TARGETS} endpoints")
    for e in endpoints:
        parts = urlsplit(e)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ProbeError(f"{where}: {e!r} is not a tcp://, http:// or https:// endpoint")
        if parts.scheme == "tcp" and parts.port is None:
            raise ProbeError(f"{where}: {e!r} needs a port")
    ca = entry.get("ca_file")
    ca_file = str((path.parent / str(ca)).resolve()) if ca else None
    return AppTargets(app, endpoints, ca_file)
