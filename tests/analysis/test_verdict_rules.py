"""Every lab technique maps to its verdict method (one table row each), and the rules
around them: site down, no control, other tests, throttling thresholds."""

from __future__ import annotations

from typing import Any

import pytest
from wcsynth import PAGE, measurement

from blockwatch.analysis.records import METHODS
from blockwatch.analysis.stages import method_for
from blockwatch.analysis.verdict import TECHNIQUE_OBSERVED_AS, analyze_document, detects

BLOCKPAGE = "<html><body>Access denied by order. blockwatch-lab-censor</body></html>"
SLOW = [(1.0 + i * 0.25, 4096) for i in range(12)]  # 48 KiB at 16 KiB/s
FAST = [(1.0 + i * 0.001, 4096) for i in range(12)]  # 48 KiB in 11 ms

TECHNIQUES: list[tuple[str, dict[str, Any], str]] = [
    # lab technique (or case), what the probe saw, expected method
    ("dns.nxdomain", {"dns_failure": "dns_nxdomain_error"}, "dns.nxdomain"),
    ("dns.bogon", {"answers": ["127.0.0.2"], "tcp_failure": "connection_refused"}, "dns.bogon"),
    ("dns.blockpage_ip", {"answers": ["10.66.255.66"], "body": BLOCKPAGE}, "dns.blockpage_ip"),
    ("dns.timeout", {"dns_failure": "generic_timeout_error"}, "dns.timeout"),
    (
        "dns.inconsistent",
        {"answers": ["93.184.216.34"], "tcp_failure": "connection_refused"},
        "dns.inconsistent",
    ),
    ("tcp.timeout", {"tcp_failure": "generic_timeout_error"}, "tcp.timeout"),
    ("tcp.refused", {"tcp_failure": "connection_refused"}, "tcp.reset"),
    ("tcp.reset", {"tcp_failure": "connection_reset"}, "tcp.reset"),
    ("tls.reset", {"url": "https://blocked.lab/", "tls_failure": "connection_reset"}, "tls.reset"),
    (
        "tls.timeout",
        {"url": "https://blocked.lab/", "tls_failure": "generic_timeout_error"},
        "tls.timeout",
    ),
    (
        "tls.mitm",
        {"url": "https://blocked.lab/", "tls_failure": "ssl_unknown_authority"},
        "tls.mitm",
    ),
    (
        "tls.mitm (wrong name)",
        {"url": "https://blocked.lab/", "tls_failure": "ssl_invalid_hostname"},
        "tls.mitm",
    ),
    ("http.blockpage", {"body": BLOCKPAGE}, "http.blockpage"),
    ("http.reset", {"http_failure": "connection_reset", "status": None}, "http.reset"),
    ("http.timeout", {"http_failure": "generic_timeout_error", "status": None}, "http.timeout"),
    ("http.diff", {"body": "<html><title>Nothing here</title></html>", "status": 403}, "http.diff"),
    ("throttled", {"reads": SLOW, "body": PAGE}, "throttled"),
    (
        "throttled (timed out mid-body)",
        {"reads": SLOW[:6], "http_failure": "generic_timeout_error", "truncated": True},
        "throttled",
    ),
]


@pytest.mark.parametrize(("case", "seen", "method"), TECHNIQUES, ids=[c for c, *_ in TECHNIQUES])
def test_each_censorship_technique_is_blocked_with_its_own_method(case, seen, method):
    v = analyze_document(measurement(**seen), case)
    assert (v.outcome, v.method) == ("blocked", method), v.evidence
    assert v.confidence >= 0.5 and v.evidence


def test_every_verdict_method_is_exercised_by_the_table():
    # dpi.handshake is a tool test's method (a tool's own handshake): test_tool_verdicts.py.
    assert {m for *_, m in TECHNIQUES} == set(METHODS) - {"dpi.handshake"}


def test_the_lab_censors_blockpages_are_confirmed_with_the_fingerprint_named():
    v = analyze_document(measurement(body=BLOCKPAGE))
    assert v.confirmed and v.fingerprint == "bw.lab_body"
    assert v.evidence == ("body matches known blockpage fingerprint bw.lab_body (scope lab)",)
    v = analyze_document(measurement(answers=["10.66.255.66"]))
    assert v.confirmed and v.fingerprint == "bw.lab_dns"
    assert v.evidence[0].startswith("probe resolver answered 10.66.255.66: dns matches")


def test_a_healthy_fetch_is_ok_and_says_why():
    v = analyze_document(measurement())
    assert (v.outcome, v.method, v.confirmed) == ("ok", None, False)
    assert v.evidence[0].startswith("page matches the control")


def test_a_fast_download_is_not_throttling():
    assert analyze_document(measurement(reads=FAST)).outcome == "ok"


def test_a_slow_but_tiny_download_is_not_enough_to_call_throttling():
    tiny = [(1.0, 1024), (3.0, 1024), (5.0, 1024)]  # 3 KiB: below the 16 KiB minimum
    assert analyze_document(measurement(reads=tiny)).outcome == "ok"


@pytest.mark.parametrize(
    "seen",
    [
        {"dns_failure": "dns_nxdomain_error", "control_dns_failure": "dns_nxdomain_error"},
        {"tcp_failure": "connection_refused", "control_http_failure": "connection_refused_error"},
        {
            "http_failure": "connection_reset",
            "status": None,
            "control_http_failure": "connection_reset",
        },
    ],
    ids=["nxdomain everywhere", "refused everywhere", "reset everywhere"],
)
def test_a_failure_the_control_shares_means_the_site_is_down(seen):
    v = analyze_document(measurement(**seen))
    assert (v.outcome, v.method) == ("down", None), v.evidence


@pytest.mark.parametrize(
    "seen",
    [{"tcp_failure": "generic_timeout_error"}, {"dns_failure": "dns_nxdomain_error"}, {}],
    ids=["tcp timeout", "nxdomain", "healthy http"],
)
def test_without_a_control_nothing_is_called_blocked(seen):
    v = analyze_document(measurement(control=False, **seen))
    assert v.outcome == "inconclusive"
    assert "control failed (generic_timeout_error)" in v.evidence[0]


def test_other_tests_are_kept_but_not_analysed():
    doc = {"test_name": "dnscheck", "measurement_start_time": "2024-01-01 00:00:00"}
    v = analyze_document(doc)
    assert (v.outcome, v.evidence) == ("inconclusive", ("test dnscheck is not analysed yet",))


def test_an_rst_answering_the_syn_is_named_after_the_tcp_reset_technique():
    # nftables `reject with tcp reset` answers the SYN: the probe sees a refused connect,
    # and the verdict names the technique itself.
    assert method_for("tcp", "connection_refused") == "tcp.reset"
    assert detects("tcp.reset", "tcp.reset") and "tcp.refused" not in METHODS
    assert not detects("tcp.reset", "tcp.timeout") and not detects("tls.reset", None)
    assert all(m in METHODS for ms in TECHNIQUE_OBSERVED_AS.values() for m in ms)


def test_a_slow_body_is_not_throttling_when_the_control_could_not_fetch_the_page():
    v = analyze_document(measurement(reads=SLOW, control_http_failure="generic_timeout_error"))
    assert v.outcome == "inconclusive" and "control failed" in v.evidence[0]
