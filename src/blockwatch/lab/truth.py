"""Ground truth: what was really in force per round × network × URL (DESIGN §6.2, pure).

A technique only touches the URLs it can see: SNI techniques (tls.*) act on https URLs,
Host techniques (http.*) on http URLs; DNS, TCP and throttling act on both. So a site
under tls.reset has truth "tls.reset" for https://x.com/ and "none" for http://x.com/.
An outage trumps censorship.
"""

from __future__ import annotations

from typing import Any

from blockwatch.lab.clock import Round
from blockwatch.lab.scenario import Scenario
from blockwatch.times import iso_z


def applies(technique: str, url: str) -> bool:
    if technique.startswith("tls."):
        return url.startswith("https://")
    if technique.startswith("http."):
        return url.startswith("http://")
    return True


def truth_of(rnd: Round, network: str, domain: str, url: str) -> str:
    state = rnd.networks[network]
    if state.down or domain in rnd.sites_down:
        return "outage"
    block = state.block_of(domain)
    if block is None or not applies(block.technique, url):
        return "none"
    return block.technique


def iso(rnd: Round) -> str:
    """The round's virtual time, as every lab file spells it."""
    return iso_z(rnd.at.replace(microsecond=0)) or ""


def truth_rows(scenario: Scenario, rnd: Round) -> list[dict[str, Any]]:
    """One row per network × URL for this round, in scenario order."""
    at = iso(rnd)
    return [
        {
            "at": at,
            "network": net.name,
            "probe_asn": f"AS{net.asn}",
            "input": url,
            "domain": site.domain,
            "truth": truth_of(rnd, net.name, site.domain, url),
        }
        for net in scenario.networks
        for site in scenario.sites
        for url in site.urls
    ]
