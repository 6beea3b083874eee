"""A small censored internet on loopback: sites, two resolvers, a control helper.

The probe binds its sockets to ``PROBE_IP``; "censoring" origins misbehave only towards
that address, and the ISP resolver lies only to whoever asks it (the probe), while the
control helper uses the honest resolver. So one machine, without namespaces, shows the
probe and the control two different networks, as a real censor would.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from blockwatch.control.helper import HelperConfig
from blockwatch.control.server import ControlServer
from blockwatch.net.timeouts import Timeouts
from blockwatch.pki import CertificateAuthority
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.testing.dnsserver import DNSServer
from blockwatch.probe.testing.origin import BLOCKPAGE, Origin, Page, html_page

PROBE_IP = "127.0.0.200"
ISP_DNS_IP = "127.0.0.53"
HONEST_DNS_IP = "127.0.0.54"
BLOCKPAGE_IP = "127.0.0.66"
PROBE_TIMEOUTS = Timeouts(dns=1, connect=1, tls=1, http=2, control=6, total=12)
HELPER_TIMEOUTS = Timeouts(dns=1, connect=1, tls=1, http=2, control=6, total=8)

__all__ = ["BLOCKPAGE", "BLOCKPAGE_IP", "PROBE_IP", "LoopNet", "Page"]


@dataclass
class LoopNet:
    """``net = await LoopNet.start(tmp_path)``; ``url = await net.site("a.test")``."""

    folder: Path
    ca: CertificateAuthority
    isp_dns: DNSServer
    honest_dns: DNSServer
    control: ControlServer | None = None
    origins: list[Origin] = field(default_factory=list)
    next_host: int = 10

    @classmethod
    async def start(
        cls, folder: Path, *, control: bool = True, geoip_db: str | None = None
    ) -> LoopNet:
        ca = CertificateAuthority.create(folder / "ca")
        isp = await DNSServer({}, ISP_DNS_IP).start()
        honest = await DNSServer({}, HONEST_DNS_IP).start()
        net = cls(folder, ca, isp, honest)
        if control:
            net.control = ControlServer(
                HelperConfig(
                    allow_private=True,
                    resolver=honest.address,
                    ca_file=str(ca.cert_file),
                    timeouts=HELPER_TIMEOUTS,
                    geoip_db=geoip_db,
                ),
                "127.0.0.1",
                0,
            )
            await net.control.start()
        return net

    def allocate_ip(self) -> str:
        self.next_host += 1
        assert self.next_host < 200, "too many sites for one LoopNet"
        return f"127.0.0.{self.next_host}"

    async def site(
        self,
        name: str,
        *,
        tls: bool = False,
        behaviour: str = "normal",
        victim: str | None = PROBE_IP,
        page: Page | None = None,
        ip: str | None = None,
    ) -> str:
        """Start an origin for ``name`` (both resolvers know it); returns its URL."""
        ip = ip or self.allocate_ip()
        origin = Origin(
            ip,
            {name: page or html_page(f"Welcome to the {name} website")},
            tls=self.ca.server_context([name]) if tls else None,
            behaviour=behaviour,
            victim=victim,
            mitm_tls=self.ca.server_context(["other.test"], "mitm") if tls else None,
        )
        await origin.start()
        self.origins.append(origin)
        self.isp_dns.zone[name] = [ip]
        self.honest_dns.zone[name] = [ip]
        return f"{'https' if tls else 'http'}://{name}:{origin.port}/"

    async def shared_site(
        self, names: list[str], *, censored: set[str], tls: bool = False, behaviour: str
    ) -> list[str]:
        """One origin (one IP and port) serving every name in ``names``; the behaviour hits
        only the ``censored`` names (by SNI for TLS behaviours, by Host for HTTP ones)."""
        ip = self.allocate_ip()
        origin = Origin(
            ip,
            {n: html_page(f"Welcome to the {n} website") for n in names},
            tls=self.ca.server_context(names) if tls else None,
            behaviour=behaviour,
            victim=PROBE_IP,
            mitm_tls=self.ca.server_context(["other.test"], "mitm") if tls else None,
            names=censored,
        )
        await origin.start()
        self.origins.append(origin)
        for n in names:
            self.isp_dns.zone[n] = [ip]
            self.honest_dns.zone[n] = [ip]
        return [f"{'https' if tls else 'http'}://{n}:{origin.port}/" for n in names]

    async def blockpage_server(self, port: int = 0) -> Origin:
        origin = await Origin(BLOCKPAGE_IP, {}, port=port, behaviour="blockpage").start()
        self.origins.append(origin)
        return origin

    def probe_config(self, **overrides: object) -> ProbeConfig:
        config = ProbeConfig(
            control_url=self.control.url if self.control else None,
            resolver=self.isp_dns.address,
            system_resolver=False,  # the host's resolver is not ours to query
            probe_cc="ZZ",
            probe_asn="AS64496",
            ca_file=str(self.ca.cert_file),
            timeouts=PROBE_TIMEOUTS,
            concurrency=8,
            source_ip=PROBE_IP,
        )
        return replace(config, **overrides)  # type: ignore[arg-type]

    async def close(self) -> None:
        for origin in self.origins:
            await origin.close()
        if self.control:
            await self.control.close()
        self.isp_dns.close()
        self.honest_dns.close()
