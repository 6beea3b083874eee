"""Loopback test servers for the probe, the control helper and the lab: a test CA, a DNS
server, HTTP/HTTPS origins, and hostile or censoring variants of them. Test support: it may use
both the probe and the control helper, which never import each other."""

from blockwatch.probe.testing.dnsserver import DNSServer
from blockwatch.probe.testing.loopnet import LoopNet
from blockwatch.probe.testing.mmdb import write_asn_db
from blockwatch.probe.testing.netns import netns_skip_reason, run_in_netns
from blockwatch.probe.testing.origin import Origin, Page, html_page

__all__ = [
    "DNSServer",
    "LoopNet",
    "Origin",
    "Page",
    "html_page",
    "netns_skip_reason",
    "run_in_netns",
    "write_asn_db",
]
