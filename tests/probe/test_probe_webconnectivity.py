"""Web Connectivity against real loopback servers: OONI fields and the analyzer's verdict."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from blockwatch.analysis.verdict import analyze_document
from blockwatch.probe.runner import measure_url
from blockwatch.probe.testing.dnsserver import NXDOMAIN
from blockwatch.probe.testing.loopnet import BLOCKPAGE_IP, LoopNet, Page


def verdict(doc: dict[str, Any]) -> tuple[str, str | None]:
    v = analyze_document(doc)
    return v.outcome, v.method


def envelope_ok(doc: dict[str, Any], url: str) -> None:
    for key in ("probe_cc", "probe_asn", "report_id", "measurement_start_time", "test_version"):
        assert doc[key]
    assert doc["input"] == url
    assert doc["test_name"] == "web_connectivity"
    assert doc["software_name"] == "blockwatch"


async def test_accessible_http_site_is_ok_with_matching_control(net: LoopNet) -> None:
    url = await net.site("ok.test")
    doc = await measure_url(url, net.probe_config())
    envelope_ok(doc, url)
    tk = doc["test_keys"]
    assert tk["blocking"] is False and tk["accessible"] is True
    assert tk["dns_consistency"] == "consistent"
    assert tk["body_proportion"] == 1.0 and tk["status_code_match"] is True
    assert tk["queries"][0]["engine"] == "udp" and tk["queries"][0]["resolver_address"]
    assert tk["queries"][0]["answers"][0]["ipv4"].startswith("127.0.0.")
    assert tk["tcp_connect"][0]["status"] == {"success": True, "failure": None, "blocked": False}
    req = tk["requests"][0]
    assert req["response"]["code"] == 200 and req["request"]["x_transport"] == "tcp"
    assert req["request"]["headers"]["Host"] == urlsplit(url).netloc
    assert [e["transaction_id"] for e in tk["network_events"]] == [req["transaction_id"]] * len(
        tk["network_events"]
    )
    assert tk["control"]["http_request"]["status_code"] == 200
    assert verdict(doc) == ("ok", None)


async def test_accessible_https_site_records_tls_handshake_and_is_ok(net: LoopNet) -> None:
    url = await net.site("secure.test", tls=True)
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    tls = tk["tls_handshakes"][0]
    assert tls["failure"] is None and tls["server_name"] == "secure.test"
    assert tls["tls_version"].startswith("TLSv1.") and tls["peer_certificates"]
    assert tk["accessible"] is True and tk["blocking"] is False
    assert verdict(doc) == ("ok", None)


async def test_nxdomain_from_isp_resolver_is_dns_blocking(net: LoopNet) -> None:
    url = await net.site("nx.test")
    net.isp_dns.zone["nx.test"] = NXDOMAIN
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["dns_experiment_failure"] == "dns_nxdomain_error"
    assert tk["queries"][0]["rcode"] == 3
    assert tk["dns_consistency"] == "inconsistent" and tk["blocking"] == "dns"
    assert tk["control"]["dns"]["addrs"]
    assert verdict(doc) == ("blocked", "dns.nxdomain")


async def test_bogon_answer_the_control_never_gives_is_dns_bogon(net: LoopNet) -> None:
    url = await net.site("bogon.test")
    net.isp_dns.zone["bogon.test"] = ["127.0.0.99"]  # nothing there; the control says .1x
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["queries"][0]["answers"][0]["ipv4"] == "127.0.0.99"
    assert tk["dns_consistency"] == "inconsistent" and tk["blocking"] == "dns"
    assert verdict(doc) == ("blocked", "dns.bogon")


async def test_answer_pointing_at_a_blockpage_server_is_dns_blockpage_ip(net: LoopNet) -> None:
    url = await net.site("news.test")
    await net.blockpage_server(port=urlsplit(url).port or 80)
    net.isp_dns.zone["news.test"] = [BLOCKPAGE_IP]
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert "blockwatch-lab-censor" in tk["requests"][0]["response"]["body"]
    assert tk["dns_consistency"] == "inconsistent"  # a bogon the control never gives
    assert tk["blocking"] == "dns"
    v = analyze_document(doc)
    assert (v.outcome, v.method, v.confirmed) == ("blocked", "dns.blockpage_ip", True)


async def test_tls_reset_after_client_hello_is_tls_reset(net: LoopNet) -> None:
    url = await net.site("sni.test", tls=True, behaviour="tls_reset")
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["tcp_connect"][0]["status"]["success"] is True
    assert tk["tls_handshakes"][0]["failure"] == "connection_reset"
    assert tk["requests"][0]["failure"] == "connection_reset"
    assert tk["control"]["tls_handshake"]  # the control's handshake worked
    assert next(iter(tk["control"]["tls_handshake"].values()))["status"] is True
    assert tk["blocking"] == "http-failure"
    assert verdict(doc) == ("blocked", "tls.reset")


async def test_certificate_for_another_name_is_tls_mitm(net: LoopNet) -> None:
    url = await net.site("mitm.test", tls=True, behaviour="tls_mitm")
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["tls_handshakes"][0]["failure"] == "ssl_invalid_hostname"
    assert verdict(doc) == ("blocked", "tls.mitm")
    der = base64.b64decode(tk["tls_handshakes"][0]["peer_certificates"][0]["data"])
    names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert names.value.get_values_for_type(x509.DNSName) == ["other.test"]  # the evidence


async def test_certificate_from_unknown_authority_is_recorded(net: LoopNet) -> None:
    url = await net.site("ca.test", tls=True)
    doc = await measure_url(url, net.probe_config(ca_file=None))  # system store only
    assert doc["test_keys"]["tls_handshakes"][0]["failure"] == "ssl_unknown_authority"


async def test_http_blockpage_is_confirmed_http_blockpage(net: LoopNet) -> None:
    url = await net.site("blocked.test", behaviour="blockpage")
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["dns_consistency"] == "consistent"
    assert tk["status_code_match"] is True and tk["body_length_match"] is False
    # OONI's header rule counts the shared Content-Length and Connection as a match (the
    # probe's former copy of the rules did not); the fingerprint makes it blocking.
    assert (tk["headers_match"], tk["blocking"]) == (True, "http-diff")
    v = analyze_document(doc)
    assert (v.outcome, v.method, v.confirmed) == ("blocked", "http.blockpage", True)


async def test_reset_after_http_request_is_http_reset(net: LoopNet) -> None:
    url = await net.site("rst.test", behaviour="http_reset")
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["requests"][0]["failure"] == "connection_reset"
    assert tk["http_experiment_failure"] == "connection_reset"
    assert tk["blocking"] == "http-failure"
    assert verdict(doc) == ("blocked", "http.reset")


async def test_site_down_for_the_control_too_is_down_not_blocked(net: LoopNet) -> None:
    url = await net.site("gone.test")
    await net.origins[-1].close()  # the site itself is gone, for everyone
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["tcp_connect"][0]["status"]["failure"] == "connection_refused"
    assert tk["tcp_connect"][0]["status"]["blocked"] is False
    assert tk["blocking"] is False and tk["accessible"] is False
    assert verdict(doc) == ("down", None)


async def test_unreachable_control_is_inconclusive_never_blocked(net: LoopNet) -> None:
    url = await net.site("lonely.test", behaviour="http_reset")
    config = net.probe_config(control_url="http://127.0.0.1:9/")  # discard port: closed
    doc = await measure_url(url, config)
    tk = doc["test_keys"]
    assert tk["control_failure"] == "connection_refused"
    assert tk["blocking"] is None and tk["accessible"] is None
    assert verdict(doc) == ("inconclusive", None)


async def test_redirects_are_followed_and_listed_newest_first(net: LoopNet) -> None:
    from blockwatch.probe.testing.origin import Page

    final = await net.site("final.test")
    url = await net.site("hop.test", page=Page(302, b"", [("Location", final)]))
    doc = await measure_url(url, net.probe_config())
    reqs = doc["test_keys"]["requests"]
    assert [r["request"]["url"] for r in reqs] == [final, url]
    assert reqs[1]["response"]["code"] == 302 and reqs[0]["response"]["code"] == 200
    assert doc["test_keys"]["accessible"] is True
    assert verdict(doc) == ("ok", None)


async def test_sni_reset_on_one_name_leaves_other_name_on_same_ip_accessible(
    net: LoopNet,
) -> None:
    blocked, fine = await net.shared_site(
        ["x.test", "news.test"], censored={"x.test"}, tls=True, behaviour="tls_reset"
    )
    config = net.probe_config()
    doc_blocked, doc_fine = await measure_url(blocked, config), await measure_url(fine, config)
    ips = {d["test_keys"]["tcp_connect"][0]["ip"] for d in (doc_blocked, doc_fine)}
    assert len(ips) == 1  # the same address, measured independently
    assert doc_blocked["test_keys"]["tls_handshakes"][0]["server_name"] == "x.test"
    assert doc_fine["test_keys"]["tls_handshakes"][0]["server_name"] == "news.test"
    assert verdict(doc_blocked) == ("blocked", "tls.reset")
    assert verdict(doc_fine) == ("ok", None)


async def test_host_blockpage_on_one_name_leaves_other_name_on_same_ip_accessible(
    net: LoopNet,
) -> None:
    blocked, fine = await net.shared_site(
        ["x.test", "news.test"], censored={"x.test"}, behaviour="blockpage"
    )
    config = net.probe_config()
    doc_blocked, doc_fine = await measure_url(blocked, config), await measure_url(fine, config)
    assert doc_blocked["test_keys"]["requests"][0]["request"]["headers"]["Host"].startswith("x.")
    assert verdict(doc_blocked) == ("blocked", "http.blockpage")
    assert verdict(doc_fine) == ("ok", None)


async def test_reset_on_the_https_hop_of_a_redirect_is_tls_reset(net: LoopNet) -> None:
    from blockwatch.probe.testing.origin import Page

    ip = net.allocate_ip()
    secure = await net.site("x.test", tls=True, behaviour="tls_reset", ip=ip)
    url = await net.site("x.test", ip=ip, page=Page(301, b"", [("Location", secure)]))
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert [r["request"]["url"] for r in tk["requests"]] == [secure, url]
    assert tk["requests"][0]["failure"] == "connection_reset"
    assert [h["failure"] for h in tk["tls_handshakes"]] == ["connection_reset"]
    assert len(tk["tcp_connect"]) == 2  # the http endpoint, then the redirect's
    assert verdict(doc) == ("blocked", "tls.reset")


async def test_each_connection_ties_its_tcp_tls_and_http_records_by_one_transaction_id(
    net: LoopNet,
) -> None:
    from blockwatch.probe.testing.origin import Page

    final = await net.site("final.test", tls=True)
    moved = Page(302, b"<p>moved</p>", [("Location", final)])
    url = await net.site("hop.test", tls=True, page=moved)
    tk = (await measure_url(url, net.probe_config()))["test_keys"]
    tcp, tls = tk["tcp_connect"], tk["tls_handshakes"]
    first, hop = tk["requests"][1], tk["requests"][0]  # newest first
    # One connection per endpoint, then one for the redirect: ids 1, 2, in that order.
    assert [c["transaction_id"] for c in tcp] == [1, 2]
    assert [h["transaction_id"] for h in tls] == [1, 2]
    assert (first["transaction_id"], hop["transaction_id"]) == (1, 2)
    for request in (first, hop):
        conn = next(c for c in tcp if c["transaction_id"] == request["transaction_id"])
        assert request["address"] == f"{conn['ip']}:{conn['port']}"
    reads = {e["transaction_id"] for e in tk["network_events"]}
    assert reads == {1, 2}  # each body's reads point at the connection it came over


async def test_the_first_request_takes_the_id_of_the_connection_that_worked(
    net: LoopNet,
) -> None:
    from blockwatch.probe.testing.origin import Page

    final = await net.site("final.test")
    dead, live = net.allocate_ip(), net.allocate_ip()  # nothing listens on the first
    url = await net.site(
        "two.test", ip=live, page=Page(302, b"<p>moved</p>", [("Location", final)])
    )
    for resolver in (net.isp_dns, net.honest_dns):
        resolver.zone["two.test"] = [dead, live]
    tk = (await measure_url(url, net.probe_config()))["test_keys"]
    ids = {c["ip"]: c["transaction_id"] for c in tk["tcp_connect"]}
    assert tk["tcp_connect"][0]["status"]["failure"] == "connection_refused"
    assert [c["transaction_id"] for c in tk["tcp_connect"]] == [1, 2, 3]
    first, hop = tk["requests"][1], tk["requests"][0]
    assert first["transaction_id"] == ids[live] == 2  # over the second endpoint
    assert hop["transaction_id"] == 3  # the redirect's own connection comes after


async def test_redirect_loop_stops_after_ten_redirects(net: LoopNet) -> None:
    from blockwatch.probe.testing.origin import Page

    url = await net.site("loop.test", page=Page(302, b"", [("Location", "/again")]))
    doc = await measure_url(url, net.probe_config())
    reqs = doc["test_keys"]["requests"]
    assert len(reqs) == 11  # the first request and ten redirects, then we stop
    assert all(r["response"]["code"] == 302 for r in reqs)


async def test_a_site_redirecting_to_a_location_without_a_host_is_down(net: LoopNet) -> None:
    # OONI QA's "redirect with broken location", on our probe (which resolves "http://"
    # against the page's own URL, as urljoin does, and so follows it to the redirect limit).
    page = Page(302, b"", [("Location", "http://")])
    url = await net.site("broken.test", page=page)
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert {r["response"]["code"] for r in tk["requests"]} == {302}
    assert (tk["blocking"], tk["accessible"]) == (False, False)
    v = analyze_document(doc)
    assert (v.outcome, v.rule_id) == ("down", "fetch.broken_redirect"), v.evidence
