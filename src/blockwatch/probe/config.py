"""Probe configuration: per-phase timeouts, caps, and where to send control requests.

One :class:`Timeouts` object is passed down to every step (STYLE §5); the worker and the
CLI build a :class:`ProbeConfig` from JSON or options with :meth:`ProbeConfig.from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from blockwatch.errors import ProbeError

BODY_CAP = 1 << 19  # OONI's 512 KiB cap on HTTP bodies


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds allowed per phase; ``total`` bounds one URL's whole measurement."""

    dns: float = 4.0
    connect: float = 10.0
    tls: float = 10.0
    http: float = 15.0
    control: float = 30.0
    total: float = 60.0

    def scaled(self, factor: float) -> Timeouts:
        return Timeouts(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    """Everything a probe needs to measure URLs from this network."""

    control_url: str | None = None
    resolver: str | None = "8.8.8.8"  # "ip[:port]" for the DNS-over-UDP query; None: skip
    system_resolver: bool = True  # also resolve with getaddrinfo (the OS's resolver)
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    probe_network_name: str | None = None
    ca_file: str | None = None  # trust this CA bundle instead of the system store
    timeouts: Timeouts = field(default_factory=Timeouts)
    concurrency: int = 16
    http_body_cap: int = BODY_CAP
    max_redirects: int = 10
    max_endpoints: int = 4  # addresses tried per host (OONI-like bound on fan-out)
    source_ip: str | None = None  # bind outgoing TCP/UDP sockets to this local address
    geoip_db: str | None = None  # MaxMind ASN database to label DNS answers
    user_agent: str = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )

    @property
    def resolver_address(self) -> tuple[str, int] | None:
        return parse_host_port(self.resolver, 53) if self.resolver else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeConfig:
        """Build from JSON-like data (the worker's config file); unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ProbeError(f"unknown probe config keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        if isinstance(values.get("timeouts"), dict):
            tnames = {f.name for f in fields(Timeouts)}
            bad = set(values["timeouts"]) - tnames
            if bad:
                raise ProbeError(f"unknown timeout keys: {', '.join(sorted(bad))}")
            values["timeouts"] = Timeouts(**{k: float(v) for k, v in values["timeouts"].items()})
        try:
            config = cls(**values)
        except TypeError as exc:
            raise ProbeError(f"bad probe config: {exc}") from exc
        if config.concurrency < 1:
            raise ProbeError("concurrency must be at least 1")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """Split "ip", "ip:port", "[v6]:port" or a bare IPv6 address."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        try:
            return host, int(port)
        except ValueError as exc:
            raise ProbeError(f"bad port in {text!r}") from exc
    return text, default_port
