"""OONI's summary keys from the analysis rules (the keys our probe writes): one rule set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.analysis.bogons import is_bogon
from blockwatch.analysis.ooni_summary import SUMMARY_KEYS, ooni_summary

HOST = "x.test"
URL = f"http://{HOST}/"


def query(addrs: list[str], failure: str | None = None, engine: str = "udp") -> dict[str, Any]:
    answers = [{"answer_type": "A", "ipv4": a, "asn": 0} for a in addrs]
    return {"engine": engine, "hostname": HOST, "query_type": "A", "failure": failure,
            "answers": answers}  # fmt: skip


def control(addrs: list[str], failure: str | None = None, **http: Any) -> dict[str, Any]:
    base = {"status_code": 200, "body_length": 1000, "headers": {"X-Site": "1"}, "title": ""}
    return {
        "dns": {"addrs": addrs, "failure": failure},
        "tcp_connect": {"93.184.216.34:80": {"status": True, "failure": None}},
        "http_request": {**base, "failure": None, **http},
        "ip_info": {a: {"asn": 15133, "flags": 2} for a in addrs},
    }


def keys(
    queries: list[dict[str, Any]],
    ctrl: dict[str, Any] | None,
    *,
    body: str = "a" * 1000,
    headers: dict[str, str] | None = None,
    status: int = 200,
    failure: str | None = None,
    tcp_failure: str | None = None,
) -> dict[str, Any]:
    response = {"code": status, "body": body, "headers": headers or {"X-Site": "1"}}
    return {
        "queries": queries,
        "tcp_connect": [
            {
                "ip": "93.184.216.34",
                "port": 80,
                "status": {"success": tcp_failure is None, "failure": tcp_failure},
            }
        ],
        "requests": [
            {
                "request": {"url": f"http://{HOST}/"},
                "failure": failure,
                "response": {} if failure else response,
            }
        ],
        "control": ctrl or {},
        "control_failure": None if ctrl else "connection_refused",
    }


@pytest.mark.parametrize(
    ("probe", "ctrl", "expected"),
    [
        (query(["93.184.216.34"]), control(["93.184.216.34"]), "consistent"),
        (query(["93.184.216.35"]), control(["93.184.216.34"]), "inconsistent"),
        (query(["10.10.34.35"]), control(["93.184.216.34"]), "inconsistent"),
        (query([], "dns_nxdomain_error"), control(["93.184.216.34"]), "inconsistent"),
        (query([], "dns_nxdomain_error"), control([], "dns_nxdomain_error"), "consistent"),
        (query(["93.184.216.34"]), None, None),
    ],
)
def test_dns_consistency_follows_ooni(probe: dict[str, Any], ctrl: Any, expected: Any) -> None:
    assert ooni_summary(keys([probe], ctrl), URL).keys["dns_consistency"] == expected


def test_same_asn_makes_different_addresses_consistent() -> None:
    probe = query(["93.184.216.35"])
    probe["answers"][0]["asn"] = 15133
    assert ooni_summary(keys([probe], control(["93.184.216.34"])), URL).keys["dns_consistency"] == (
        "consistent"
    )


def test_tcp_failure_where_the_control_connected_is_blocked_tcp_ip() -> None:
    timeout = "generic_timeout_error"
    tk = keys(
        [query(["93.184.216.34"])], control(["93.184.216.34"]), failure=timeout, tcp_failure=timeout
    )
    summary = ooni_summary(tk, URL)
    assert summary.tcp_blocked == [True]
    assert (summary.keys["blocking"], summary.keys["accessible"]) == ("tcp_ip", False)
    assert ooni_summary({**tk, "control": {}}, HOST).tcp_blocked == [None]


def test_same_page_matches_and_is_accessible() -> None:
    summary = ooni_summary(keys([query(["93.184.216.34"])], control(["93.184.216.34"])), URL)
    assert summary.keys["body_proportion"] == 1.0 and summary.keys["headers_match"] is True
    assert (summary.keys["blocking"], summary.keys["accessible"]) == (False, True)
    assert set(summary.keys) == set(SUMMARY_KEYS)


def test_small_different_page_is_http_diff() -> None:
    ctrl = control(["93.184.216.34"], body_length=20000, title="Example Domain")
    tk = keys([query(["93.184.216.34"])], ctrl, body="blocked" * 10, headers={"Server": "censor"})
    summary = ooni_summary(tk, URL).keys
    assert summary["body_length_match"] is False and summary["headers_match"] is False
    assert (summary["blocking"], summary["accessible"]) == ("http-diff", False)


def test_failed_control_gives_no_blocking_verdict() -> None:
    summary = ooni_summary(keys([query(["93.184.216.34"])], None), URL).keys
    assert (summary["blocking"], summary["accessible"]) == (None, None)


# The probe's former copies of the rules disagreed with the analyzer in three ways.


def test_a_shared_content_length_header_is_a_header_match_as_in_oonis_rule() -> None:
    # The probe's copy counted Content-Length, Connection, Transfer-Encoding and Keep-Alive
    # as names every server sends; OONI's list (and the analyzer's) does not.
    ctrl = control(
        ["93.184.216.34"], body_length=50000, headers={"Content-Length": "1", "Date": "x"}
    )
    tk = keys([query(["93.184.216.34"])], ctrl, headers={"Content-Length": "9", "Server": "y"})
    assert ooni_summary(tk, URL).keys["headers_match"] is True


def test_titles_match_on_the_same_set_of_long_words_not_on_one_shared_word() -> None:
    ctrl = control(["93.184.216.34"], body_length=50000, title="Example Domain")
    page = "<title>Example Domain Blocked</title>"  # the probe's copy: "example" is shared
    summary = ooni_summary(keys([query(["93.184.216.34"])], ctrl, body=page), URL).keys
    assert summary["title_match"] is False
    same = "<title>Domain Example</title>"
    assert ooni_summary(keys([query(["93.184.216.34"])], ctrl, body=same), URL).keys["title_match"]


def test_a_name_where_an_address_belongs_is_not_a_bogon() -> None:
    # The probe's copy called "x.com" a bogon (it is no address at all, so no private one).
    assert is_bogon("x.com") is False
    tk = keys([query(["x.com"])], control(["93.184.216.34"]))
    tk["queries"][0]["answers"][0]["asn"] = 15133  # same AS as the control's answer
    assert ooni_summary(tk, URL).keys["dns_consistency"] == "consistent"


def test_an_ip_literal_url_is_dns_consistent() -> None:
    assert ooni_summary(keys([], control([])), "http://93.184.216.34/").keys["dns_consistency"] == (
        "consistent"
    )


def test_a_broken_redirect_of_the_site_itself_is_not_blocking() -> None:
    tk = keys([query(["93.184.216.34"])], control(["93.184.216.34"]), status=302,
              failure="http_invalid_redirect_location_host")  # fmt: skip
    summary = ooni_summary(tk, URL).keys
    assert (summary["blocking"], summary["accessible"]) == (False, False)


# Where our verdict, and so our `blocking`, differs from what OONI's own probe wrote.
QA_BLOCKING_DIFFERS = {
    "cloudflareCAPTCHAWithHTTP": ("http-diff", False),  # a CDN's challenge page: ok
    "redirectWithBrokenLocationForHTTP": ("http-failure", False),  # the site's bug: down
    "redirectWithBrokenLocationForHTTPS": ("http-failure", False),
    # A refused connect where the control connects: a forged RST (tcp.reset).
    "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP": ("http-failure", "tcp_ip"),
    "redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS": ("http-failure", "tcp_ip"),
}


def test_on_oonis_qa_runs_blocking_is_oonis_but_where_our_verdict_differs(
    ooni_data: Path,
) -> None:
    differs = {}
    for path in sorted((ooni_data / "qa").glob("*.json")):
        doc = orjson.loads(path.read_bytes())
        tk = doc["test_keys"]
        ours = ooni_summary(tk, doc["input"], doc["probe_cc"]).keys
        if ours["blocking"] != tk["blocking"]:
            differs[path.stem] = (tk["blocking"], ours["blocking"])
    assert differs == QA_BLOCKING_DIFFERS
