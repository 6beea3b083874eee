"""Ground truth: what was really in force per round × network × URL (DESIGN §6.2, pure).

A technique only touches the URLs it can see: SNI techniques (tls.*) act on https URLs,
Host techniques (http.*) on http URLs; DNS, TCP and throttling act on both. So a site
under tls.reset has truth "tls.reset" for https://x.com/ and "none" for http://x.com/.
An outage trumps censorship.
"""

from __future__ import annotations

from typing import Any

from blockwatch.lab.clock import Round
from blockwatch.lab.labtools import servers, targets
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


def tool_truth(rnd: Round, network: str, tool: str) -> str:
    """A tool's truth: every technique a tool can suffer (labtools.TOOL_TECHNIQUES) reaches
    all of its servers; a site outage never touches a tool's own addresses."""
    state = rnd.networks[network]
    if state.down:
        return "outage"
    block = state.block_of(tool)
    return "none" if block is None else block.technique


def truth_rows(scenario: Scenario, rnd: Round) -> list[dict[str, Any]]:
    """One row per network × URL for this round, in scenario order, then one per network ×
    tool measurement (``test``: its OONI test; an app's input is its name)."""
    at = iso(rnd)
    tools = targets(scenario.tools, servers(scenario.tools)) if scenario.tools else []
    web = [
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
    return web + [
        {
            "at": at,
            "network": net.name,
            "probe_asn": f"AS{net.asn}",
            "input": t.input,
            "domain": t.tool,
            "truth": tool_truth(rnd, net.name, t.tool),
            "test": t.test,
        }
        for net in scenario.networks
        for t in tools
    ]
