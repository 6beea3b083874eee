"""Hostile peers: the probe stays within its time and memory bounds and names the failure."""

from __future__ import annotations

import time

import psutil

from blockwatch.analysis.verdict import analyze_document
from blockwatch.net.clock import Clock
from blockwatch.net.dns import udp_lookup
from blockwatch.probe.runner import measure_url
from blockwatch.probe.testing.dnsserver import GARBAGE, HUGE, SILENT
from blockwatch.probe.testing.loopnet import LoopNet

CAP = 64 * 1024


async def test_endless_body_is_cut_at_the_cap_and_marked_truncated(net: LoopNet) -> None:
    url = await net.site("endless.test", behaviour="endless", victim=None)
    rss = psutil.Process().memory_info().rss
    started = time.monotonic()
    doc = await measure_url(url, net.probe_config(http_body_cap=CAP))
    assert time.monotonic() - started < 4
    resp = doc["test_keys"]["requests"][0]["response"]
    assert resp["body_is_truncated"] is True and resp["body_length"] == CAP
    assert len(doc["test_keys"]["network_events"]) <= 128
    assert psutil.Process().memory_info().rss - rss < 64 * 1024 * 1024


async def test_trickling_server_hits_the_http_timeout(net: LoopNet) -> None:
    url = await net.site("trickle.test", behaviour="trickle")
    started = time.monotonic()
    doc = await measure_url(url, net.probe_config())
    elapsed = time.monotonic() - started
    tk = doc["test_keys"]
    assert tk["requests"][0]["failure"] == "generic_timeout_error"
    assert tk["requests"][0]["response"]["code"] == 200  # the head came, the body crawled
    assert elapsed < 2 + 3  # http timeout (2 s) plus connect/DNS slack
    reads = [e for e in tk["network_events"] if e["operation"] == "read"]
    assert reads and all(e["num_bytes"] >= 1 for e in reads)
    # Two or three reads in two seconds are too few to call a pace: a plain timeout.
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "http.timeout")


async def test_https_policed_past_the_timeout_is_throttled_with_its_goodput(net: LoopNet) -> None:
    from blockwatch.probe.testing.origin import html_page

    page = html_page("Policed news", 64 * 1024)  # 8 s at 64 kbit/s: the 2 s timeout cuts it
    url = await net.site("policed.test", tls=True, behaviour="policed", page=page)
    started = time.monotonic()
    doc = await measure_url(url, net.probe_config())
    assert time.monotonic() - started < 2 + 3
    tk = doc["test_keys"]
    assert tk["requests"][0]["failure"] == "generic_timeout_error"
    ops = [e["operation"] for e in tk["network_events"]]
    assert ops.index("tls_handshake_done") < ops.index("http_transaction_start")
    assert ops[-1] == "http_transaction_done"  # the partial trace outlives the timeout
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "throttled"), v.evidence
    assert "kbit/s" in v.evidence[1] and v.evidence[2].startswith("baseline: the control's")


async def test_a_crawl_that_outlasts_the_whole_url_deadline_keeps_its_trace(net: LoopNet) -> None:
    from blockwatch.net.timeouts import Timeouts
    from blockwatch.probe.testing.origin import html_page

    # The HTTP timeout (8 s) is longer than the URL's (4 s): the fetch ends just before
    # the URL's deadline instead of being cancelled by it with everything it saw.
    page = html_page("Policed news", 64 * 1024)
    url = await net.site("longcrawl.test", tls=True, behaviour="policed", page=page)
    timeouts = Timeouts(dns=1, connect=1, tls=1, http=8, control=3, total=4)
    started = time.monotonic()
    doc = await measure_url(url, net.probe_config(timeouts=timeouts))
    assert time.monotonic() - started < 4 + 0.5
    tk = doc["test_keys"]
    assert tk["requests"] and tk["requests"][0]["failure"] == "generic_timeout_error"
    assert analyze_document(doc).method == "throttled"


async def test_a_transfer_that_stalls_is_a_timeout_not_throttling(net: LoopNet) -> None:
    from blockwatch.probe.testing.origin import html_page

    page = html_page("Stalled news", 64 * 1024)
    url = await net.site("stalled.test", tls=True, behaviour="stall", page=page)
    doc = await measure_url(url, net.probe_config())
    assert doc["test_keys"]["requests"][0]["failure"] == "generic_timeout_error"
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "http.timeout"), v.evidence
    assert "stalled" in v.evidence[1]


async def test_rate_limited_body_is_throttled(net: LoopNet) -> None:
    from blockwatch.probe.testing.origin import html_page

    url = await net.site("slow.test", behaviour="slow", page=html_page("Slow news", 48 * 1024))
    doc = await measure_url(url, net.probe_config())
    tk = doc["test_keys"]
    assert tk["requests"][0]["failure"] is None
    assert tk["requests"][0]["response"]["body_length"] > 48 * 1024
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "throttled")


async def test_tls_server_that_never_finishes_the_handshake_is_tls_timeout(net: LoopNet) -> None:
    url = await net.site("stall.test", tls=True, behaviour="tls_stall")
    started = time.monotonic()
    doc = await measure_url(url, net.probe_config())
    assert time.monotonic() - started < 1 + 3
    tk = doc["test_keys"]
    assert tk["tls_handshakes"][0]["failure"] == "generic_timeout_error"
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "tls.timeout")


async def test_garbage_dns_reply_is_a_misbehaving_server(net: LoopNet) -> None:
    net.isp_dns.zone["junk.test"] = GARBAGE
    q = await udp_lookup(
        "junk.test", "A", ("127.0.0.53", net.isp_dns.port), timeout=1, clock=Clock()
    )
    assert q.failure == "dns_server_misbehaving" and q.addresses == []


async def test_huge_dns_reply_is_bounded(net: LoopNet) -> None:
    net.isp_dns.zone["huge.test"] = HUGE
    q = await udp_lookup(
        "huge.test", "A", ("127.0.0.53", net.isp_dns.port), timeout=1, clock=Clock()
    )
    assert q.failure is None and len(q.addresses) == 64  # 1,000 answers, 64 kept


async def test_silent_resolver_times_out_within_the_dns_timeout(net: LoopNet) -> None:
    url = await net.site("quiet.test")
    net.isp_dns.zone["quiet.test"] = SILENT
    started = time.monotonic()
    doc = await measure_url(url, net.probe_config())
    assert time.monotonic() - started < 1 + 2
    tk = doc["test_keys"]
    assert tk["dns_experiment_failure"] == "generic_timeout_error"
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "dns.timeout")


async def test_the_control_reports_its_own_goodput_as_the_baseline(net: LoopNet) -> None:
    from blockwatch.probe.testing.origin import html_page

    # Slow for everyone (the helper too): the helper's goodput is the page's pace.
    page = html_page("Slow for all", 48 * 1024)
    url = await net.site("allslow.test", behaviour="slow", page=page, victim=None)
    doc = await measure_url(url, net.probe_config())
    kbps = doc["test_keys"]["control"]["http_request"]["x_goodput_kbps"]
    assert 150 < kbps < 300  # 4 KiB per 1/8 s is 262 kbit/s
