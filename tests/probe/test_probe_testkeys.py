"""OONI's comparisons (pure): DNS consistency, TCP blocked, HTTP matches, blocking."""

from __future__ import annotations

from typing import Any

import pytest

from blockwatch.net.dns import DNSQuery
from blockwatch.net.http import HTTPExchange
from blockwatch.net.tcp import TCPConnect
from blockwatch.probe.testkeys import blocking, dns_consistency, http_comparison, mark_tcp_blocked


def udp(addrs: list[str], failure: str | None = None) -> DNSQuery:
    return DNSQuery("udp", "x.test", "A", "1.1.1.1:53", 0.0, 0.1, failure, 0, addrs)


def control(addrs: list[str], failure: str | None = None, **http: Any) -> dict[str, Any]:
    base = {"status_code": 200, "body_length": 1000, "headers": {"X-Site": "1"}, "title": ""}
    return {
        "dns": {"addrs": addrs, "failure": failure},
        "tcp_connect": {"93.184.216.34:80": {"status": True, "failure": None}},
        "http_request": {**base, "failure": None, **http},
        "ip_info": {a: {"asn": 15133, "flags": 2} for a in addrs},
    }


@pytest.mark.parametrize(
    ("probe", "ctrl", "expected"),
    [
        (udp(["93.184.216.34"]), control(["93.184.216.34"]), "consistent"),
        (udp(["93.184.216.35"]), control(["93.184.216.34"]), "inconsistent"),
        (udp(["10.10.34.35"]), control(["93.184.216.34"]), "inconsistent"),
        (udp([], "dns_nxdomain_error"), control(["93.184.216.34"]), "inconsistent"),
        (udp([], "dns_nxdomain_error"), control([], "dns_nxdomain_error"), "consistent"),
        (udp(["93.184.216.34"]), None, None),
    ],
)
def test_dns_consistency_follows_ooni(probe: DNSQuery, ctrl: Any, expected: str | None) -> None:
    assert dns_consistency([probe], ctrl, lambda ip: 0) == expected


def test_same_asn_makes_different_addresses_consistent() -> None:
    asn = {"93.184.216.35": 15133}
    result = dns_consistency([udp(["93.184.216.35"])], control(["93.184.216.34"]), asn.get)
    assert result == "consistent"


def test_tcp_failure_where_the_control_connected_is_blocked() -> None:
    records = [TCPConnect("93.184.216.34", 80, 0.0, 1.0, "generic_timeout_error")]
    mark_tcp_blocked(records, control(["93.184.216.34"]))
    assert records[0].blocked is True
    mark_tcp_blocked(records, None)
    assert records[0].blocked is None


def page(status: int, body: bytes, headers: list[tuple[str, str]]) -> HTTPExchange:
    return HTTPExchange("http://x.test/", "GET", [], 1, 0.0, 0.1, None, None, "tcp", status,
                        headers, body)  # fmt: skip


def test_same_page_matches_and_is_accessible() -> None:
    final = page(200, b"a" * 1000, [("X-Site", "1")])
    ctrl = control(["93.184.216.34"])
    comparison = http_comparison(final, ctrl)
    assert comparison["body_proportion"] == 1.0 and comparison["headers_match"] is True
    result = blocking(control=ctrl, control_failure=None, dns_consistency="consistent",
                      tcp=[], final=final, comparison=comparison)  # fmt: skip
    assert result == (False, True)


def test_small_different_page_is_http_diff() -> None:
    final = page(200, b"blocked" * 10, [("Server", "censor")])
    ctrl = control(["93.184.216.34"], body_length=20000, title="Example Domain")
    comparison = http_comparison(final, ctrl)
    assert comparison["body_length_match"] is False and comparison["headers_match"] is False
    result = blocking(control=ctrl, control_failure=None, dns_consistency="consistent",
                      tcp=[], final=final, comparison=comparison)  # fmt: skip
    assert result == ("http-diff", False)


def test_failed_control_gives_no_blocking_verdict() -> None:
    final = page(200, b"x", [])
    result = blocking(control=None, control_failure="connection_refused",
                      dns_consistency=None, tcp=[], final=final, comparison={})  # fmt: skip
    assert result == (None, None)
