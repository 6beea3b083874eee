"""Cases where the probe's own OONI keys and the analyzer once disagreed, kept as regressions."""

from __future__ import annotations

from blockwatch.analysis.verdict import analyze_document
from blockwatch.probe.runner import measure_url
from blockwatch.probe.testing.dnsserver import SILENT
from blockwatch.probe.testing.loopnet import LoopNet


async def test_control_dns_failure_does_not_turn_a_working_private_site_into_dns_bogon(
    net: LoopNet,
) -> None:
    url = await net.site("cdns.test", tls=True)
    net.honest_dns.zone["cdns.test"] = SILENT  # the control cannot resolve the name
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["tls_handshakes"][0]["failure"] is None
    assert tk["requests"][0]["response"]["code"] == 200
    v = analyze_document(doc)
    assert v.outcome in ("ok", "inconclusive")
    # The probe's OONI keys are the verdict in OONI's words: never "dns" here.
    expected = {"ok": (False, True), "inconclusive": (None, None)}[v.outcome]
    assert (tk["blocking"], tk["accessible"]) == expected
