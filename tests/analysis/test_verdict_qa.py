"""OONI's own QA scenarios (probe-cli's simulated censorship): one expected verdict each.

The file name is the scenario. Where our method is finer than OONI's four words, the
table says what really happened in the scenario (e.g. a TLS reset after the redirect, a
download slowed to a crawl).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.analysis.records import METHODS, Verdict
from blockwatch.analysis.rules import RULE_BY_ID
from blockwatch.analysis.verdict import analyze, analyze_document
from blockwatch.ooni.measurement import parse_measurement

QA = [
    # scenario, outcome, method
    ("badSSLWithExpiredCertificate", "down", None),  # the control's TLS fails too
    ("badSSLWithUnknownAuthorityWithConsistentDNS", "down", None),
    ("badSSLWithUnknownAuthorityWithInconsistentDNS", "blocked", "dns.inconsistent"),
    ("badSSLWithWrongServerName", "down", None),
    ("cloudflareCAPTCHAWithHTTP", "ok", None),  # a CDN's bot check, not censorship
    ("cloudflareCAPTCHAWithHTTPS", "ok", None),
    ("controlFailureWithSuccessfulHTTPSWebsite", "ok", None),  # valid TLS: the site itself
    ("controlFailureWithSuccessfulHTTPWebsite", "inconclusive", None),
    ("dnsBlockingAndroidDNSCacheNoData", "blocked", "dns.nxdomain"),
    # 10.10.34.35 is Iran's blockpage address, but the run is stamped IT: not proof here,
    # so the private answer the control never gives decides (was dns.blockpage_ip).
    ("dnsBlockingBOGON", "blocked", "dns.bogon"),
    ("dnsBlockingNXDOMAIN", "blocked", "dns.nxdomain"),
    ("dnsHijackingToLocalhostWithHTTP", "blocked", "dns.bogon"),
    ("dnsHijackingToLocalhostWithHTTPS", "blocked", "dns.bogon"),
    ("dnsHijackingToProxyWithHTTPSURL", "ok", None),  # a transparent proxy: page intact
    ("dnsHijackingToProxyWithHTTPURL", "ok", None),
    ("ghostDNSBlockingWithHTTP", "blocked", "dns.inconsistent"),
    ("ghostDNSBlockingWithHTTPS", "blocked", "dns.inconsistent"),
    ("httpBlockingConnectionReset", "blocked", "http.reset"),
    ("httpDiffWithConsistentDNS", "blocked", "http.diff"),
    ("httpDiffWithInconsistentDNS", "blocked", "dns.inconsistent"),
    ("idnaWithoutCensorshipLowercase", "ok", None),
    ("idnaWithoutCensorshipWithFirstLetterUppercase", "ok", None),
    ("largeFileWithHTTP", "ok", None),  # truncated at the body cap, but fast and complete
    ("largeFileWithHTTPS", "ok", None),
    ("localhostWithHTTP", "down", None),  # the name resolves to 127.0.0.1 for everyone
    ("localhostWithHTTPS", "down", None),
    ("redirectWithBrokenLocationForHTTP", "down", None),  # the site's own bug (was inconclusive)
    ("redirectWithBrokenLocationForHTTPS", "down", None),
    ("redirectWithConsistentDNSAndThenConnectionRefusedForHTTP", "blocked", "tcp.reset"),
    ("redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS", "blocked", "tcp.reset"),
    ("redirectWithConsistentDNSAndThenConnectionResetForHTTP", "blocked", "http.reset"),
    ("redirectWithConsistentDNSAndThenConnectionResetForHTTPS", "blocked", "tls.reset"),
    ("redirectWithConsistentDNSAndThenEOFForHTTP", "blocked", "http.reset"),
    ("redirectWithConsistentDNSAndThenEOFForHTTPS", "blocked", "tls.reset"),
    ("redirectWithConsistentDNSAndThenNXDOMAIN", "blocked", "dns.nxdomain"),
    ("redirectWithConsistentDNSAndThenTimeoutForHTTP", "blocked", "http.timeout"),
    ("redirectWithConsistentDNSAndThenTimeoutForHTTPS", "blocked", "tls.timeout"),
    ("redirectWithMoreThanTenRedirectsAndHTTP", "down", None),  # the control fails too
    ("redirectWithMoreThanTenRedirectsAndHTTPS", "down", None),
    ("successWithHTTP", "ok", None),
    ("successWithHTTPS", "ok", None),
    ("tcpBlockingConnectTimeout", "blocked", "tcp.timeout"),
    ("tcpBlockingConnectionRefusedWithInconsistentDNS", "blocked", "dns.inconsistent"),
    ("throttlingWithHTTP", "blocked", "throttled"),  # 300 ms delay + 10% loss: a crawl
    ("throttlingWithHTTPS", "blocked", "throttled"),
    ("tlsBlockingConnectionResetWithConsistentDNS", "blocked", "tls.reset"),
    ("tlsBlockingConnectionResetWithInconsistentDNS", "blocked", "dns.inconsistent"),
    ("websiteDownNXDOMAIN", "down", None),
    ("websiteDownNoAddrs", "down", None),
    ("websiteDownTCPConnect", "down", None),
]


def _verdict(ooni_data: Path, name: str, table: FingerprintTable | None = None) -> Verdict:
    path = ooni_data / "qa" / f"{name}.json"
    return analyze(parse_measurement(orjson.loads(path.read_bytes()), str(path)), table)


def test_the_table_covers_every_qa_scenario(ooni_data):
    assert sorted(p.stem for p in (ooni_data / "qa").glob("*.json")) == sorted(n for n, *_ in QA)


@pytest.mark.parametrize(("name", "outcome", "method"), QA, ids=[n for n, *_ in QA])
def test_each_qa_scenario_gets_its_expected_outcome_and_method(ooni_data, name, outcome, method):
    v = _verdict(ooni_data, name)
    assert (v.outcome, v.method) == (outcome, method), v.evidence
    assert v.method is None or v.method in METHODS
    rule = RULE_BY_ID[v.rule_id or ""]  # every verdict names the rule that made it
    assert (rule.outcome, rule.method, rule.confidence) == (v.outcome, v.method, v.confidence)
    assert v.evidence and all(isinstance(e, str) and e for e in v.evidence)
    assert (v.outcome == "blocked") == (v.confidence >= 0.5) or v.outcome in ("ok", "down")


def test_a_bogon_answer_says_which_address_and_what_the_control_answered(ooni_data):
    v = _verdict(ooni_data, "dnsHijackingToLocalhostWithHTTP")
    assert v.evidence[0] == (
        "probe resolver answered 127.0.0.1 (bogon), control answered 93.184.216.34 (AS15133)"
    )
    assert not v.confirmed


def test_without_a_fingerprint_the_iranian_blockpage_address_is_still_a_bogon(ooni_data):
    v = _verdict(ooni_data, "dnsBlockingBOGON", FingerprintTable([]))
    assert (v.outcome, v.method, v.confirmed, v.rule_id) == (
        "blocked",
        "dns.bogon",
        False,
        "dns.bogon",
    )


def test_an_iran_only_fingerprint_matched_in_italy_does_not_confirm_the_block(ooni_data):
    # The QA run is stamped IT; 10.10.34.35 matches bw.ir_dns_10_10_34 (expected in IR).
    v = _verdict(ooni_data, "dnsBlockingBOGON")
    assert (v.outcome, v.method, v.confirmed, v.fingerprint) == (
        "blocked",
        "dns.bogon",
        False,
        None,
    )
    assert "10.10.34.35 (bogon)" in v.evidence[0]
    assert any("bw.ir_dns_10_10_34, expected in IR only, not IT" in e for e in v.evidence)


def test_the_same_answer_stamped_iran_is_a_confirmed_blockpage_address(ooni_data):
    doc = orjson.loads((ooni_data / "qa" / "dnsBlockingBOGON.json").read_bytes())
    doc["probe_cc"] = "IR"
    v = analyze_document(doc, "dnsBlockingBOGON-as-IR")
    assert (v.outcome, v.method, v.rule_id) == ("blocked", "dns.blockpage_ip", "dns.fingerprint")
    assert v.confirmed and v.fingerprint == "bw.ir_dns_10_10_34"
    assert "scope nat" in v.evidence[0]


def test_never_blocked_without_a_working_control(ooni_data):
    for name, *_ in QA:
        doc = orjson.loads((ooni_data / "qa" / f"{name}.json").read_bytes())
        doc["test_keys"]["control_failure"] = "connection_reset"
        v = analyze_document(doc, name)
        assert v.outcome != "blocked" or v.confirmed, (name, v.evidence)


def test_ooni_blocking_is_kept_normalised(ooni_data):
    assert _verdict(ooni_data, "successWithHTTP").ooni_blocking == "false"
    assert _verdict(ooni_data, "tcpBlockingConnectTimeout").ooni_blocking == "tcp_ip"
    assert _verdict(ooni_data, "controlFailureWithSuccessfulHTTPWebsite").ooni_blocking is None
