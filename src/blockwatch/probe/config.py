"""Probe configuration: where to send control requests, how to resolve, time limits, caps.

The worker and the CLI build a :class:`ProbeConfig` from JSON or options with
:meth:`ProbeConfig.from_dict`; its :class:`~blockwatch.net.timeouts.Timeouts` go down to every
network step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from blockwatch.errors import ProbeError
from blockwatch.net.addresses import parse_host_port
from blockwatch.net.flows import DEFAULT_USER_AGENT
from blockwatch.net.timeouts import BODY_CAP, Timeouts

__all__ = ["ProbeConfig"]


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
    user_agent: str = DEFAULT_USER_AGENT

    @property
    def resolver_address(self) -> tuple[str, int] | None:
        if not self.resolver:
            return None
        try:
            return parse_host_port(self.resolver, 53)
        except ValueError as exc:
            raise ProbeError(f"resolver: {exc}") from exc

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
