"""Single steps and run-wide bounds: getaddrinfo, IP-literal URLs, the total deadline."""

from __future__ import annotations

import time
from pathlib import Path

from blockwatch.analysis.verdict import analyze_document
from blockwatch.net.clock import Clock
from blockwatch.net.dns import system_lookup
from blockwatch.net.timeouts import Timeouts
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.runner import measure_url, measure_urls
from blockwatch.probe.testing.loopnet import LoopNet


async def test_system_resolver_answers_from_the_hosts_file() -> None:
    q = await system_lookup("localhost", timeout=2, clock=Clock())
    assert q.engine == "system" and q.failure is None and "127.0.0.1" in q.addresses


async def test_ip_literal_url_skips_dns_and_is_measured(net: LoopNet) -> None:
    url = await net.site("literal.test")
    ip = net.honest_dns.zone["literal.test"][0]
    literal = url.replace("literal.test", ip)
    doc = await measure_url(literal, net.probe_config())
    tk = doc["test_keys"]
    assert tk["queries"] == [] and tk["tcp_connect"][0]["ip"] == ip
    assert tk["requests"][0]["response"]["code"] == 404  # no such Host on that origin
    assert tk["status_code_match"] is True
    assert analyze_document(doc).outcome == "ok"


async def test_total_deadline_bounds_one_url(net: LoopNet) -> None:
    url = await net.site("forever.test", behaviour="trickle", victim=None)
    config = net.probe_config(timeouts=Timeouts(dns=1, connect=1, tls=1, http=30, total=1.5))
    started = time.monotonic()
    doc = await measure_url(url, config)
    assert time.monotonic() - started < 2.5
    assert doc["test_keys"]["http_experiment_failure"] == "generic_timeout_error"
    assert analyze_document(doc).outcome == "inconclusive"


async def test_many_urls_are_each_measured_exactly_once(
    net: LoopNet,
) -> None:
    urls = [await net.site(f"m{i}.test") for i in range(12)]
    seen = [doc["input"] async for doc in measure_urls(urls, net.probe_config(concurrency=3))]
    assert sorted(seen) == sorted(urls)


def test_probe_config_rejects_unknown_keys_and_builds_timeouts() -> None:
    import pytest

    from blockwatch.errors import ProbeError

    config = ProbeConfig.from_dict({"resolver": "10.66.2.53:5353", "timeouts": {"dns": 2}})
    assert config.resolver_address == ("10.66.2.53", 5353) and config.timeouts.dns == 2.0
    with pytest.raises(ProbeError):
        ProbeConfig.from_dict({"resolvr": "1.1.1.1"})


def test_citizen_lab_test_lists_are_read(shared_data: Path, tmp_path: Path) -> None:
    from blockwatch.probe.testlist import read_url_list

    urls = read_url_list(shared_data / "test-lists" / "pk.csv")
    assert len(urls) > 100 and all(u.startswith(("http://", "https://")) for u in urls)
    plain = tmp_path / "urls.txt"
    plain.write_text("# comment\nhttps://x.com/\n\nhttp://example.org/\n")
    assert read_url_list(plain) == ["https://x.com/", "http://example.org/"]


async def test_geoip_database_labels_answers_and_control_ip_info_with_asns(
    tmp_path: Path,
) -> None:
    from blockwatch.probe.testing.mmdb import write_asn_db

    db = write_asn_db(tmp_path / "asn.mmdb", {"127.0.0.0/25": (64500, "Example Hosting")})
    net = await LoopNet.start(tmp_path, geoip_db=str(db))
    try:
        url = await net.site("labelled.test")
        doc = await measure_url(url, net.probe_config(geoip_db=str(db)))
    finally:
        await net.close()
    tk = doc["test_keys"]
    answer = tk["queries"][0]["answers"][0]
    assert (answer["asn"], answer["as_org_name"]) == (64500, "Example Hosting")
    assert tk["control"]["ip_info"][answer["ipv4"]]["asn"] == 64500


async def test_system_lookup_without_a_free_thread_is_no_observation_not_a_timeout() -> None:
    import threading

    from blockwatch.net import dns as dnsstep

    release = threading.Event()
    busy = [dnsstep._GAI_POOL.submit(release.wait, 5) for _ in range(64)]
    try:
        assert await system_lookup("localhost", timeout=0.3, clock=Clock()) is None
    finally:
        release.set()
        for job in busy:
            job.result(timeout=5)
    q = await system_lookup("localhost", timeout=2, clock=Clock())
    assert q is not None and q.failure is None
