"""The probe's OONI summary keys equal the analyzer's on every behaviour of the loopback
internet: each censoring origin, the lying resolver, a missing control (the conftest's
autouse check does the same for every other probe test)."""

from __future__ import annotations

import asyncio

from blockwatch.probe.runner import measure_url
from blockwatch.probe.testing.dnsserver import NXDOMAIN
from blockwatch.probe.testing.loopnet import BLOCKPAGE_IP, LoopNet
from blockwatch.probe.testing.origin import BEHAVIOURS
from summarykeys import summary_mismatch

TLS_ONLY = {"tls_reset", "tls_stall", "tls_eof", "tls_mitm"}


async def test_every_origin_behaviour_and_dns_lie_gives_the_analyzers_summary_keys(
    net: LoopNet,
) -> None:
    urls = {}
    for behaviour in BEHAVIOURS:
        name = f"{behaviour.replace('_', '-')}.test"
        urls[behaviour] = await net.site(name, tls=behaviour in TLS_ONLY, behaviour=behaviour)
    urls["https"] = await net.site("secure.test", tls=True)
    urls["nxdomain"] = await net.site("nx.test")
    net.isp_dns.zone["nx.test"] = NXDOMAIN
    urls["bogon"] = await net.site("bogon.test")
    net.isp_dns.zone["bogon.test"] = ["127.0.0.99"]
    await net.blockpage_server()
    urls["blockpage_ip"] = await net.site("bpip.test")
    net.isp_dns.zone["bpip.test"] = [BLOCKPAGE_IP]
    config = net.probe_config()
    docs = await asyncio.gather(*(measure_url(u, config) for u in urls.values()))
    blocking = {}
    for what, doc in zip(urls, docs, strict=True):
        assert summary_mismatch(doc) == {}, what
        blocking[what] = doc["test_keys"]["blocking"]
    # The behaviours are what they say (so the equality above is not over empty keys).
    assert blocking["normal"] is False and blocking["https"] is False
    assert blocking["nxdomain"] == blocking["bogon"] == "dns"
    assert blocking["http_reset"] == blocking["tls_reset"] == "http-failure"


async def test_without_a_control_the_summary_keys_are_the_analyzers_too(net: LoopNet) -> None:
    url = await net.site("alone.test")
    doc = await measure_url(url, net.probe_config(control_url=None))
    assert doc["test_keys"]["blocking"] is None
    assert summary_mismatch(doc) == {}
