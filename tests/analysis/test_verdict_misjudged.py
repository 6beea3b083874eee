"""Cases the rules once misjudged, each on a real measurement or one made from a real one
(OONI's QA runs, probe-cli's "noipv6" capture, fastpath measurements)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.analysis.ooni_summary import ooni_summary
from blockwatch.analysis.verdict import analyze_document


def _load(ooni_data: Path, name: str) -> dict[str, Any]:
    doc = orjson.loads((ooni_data / name).read_bytes())
    return doc.get("measurement", doc) if "test_keys" not in doc else doc


# -- (a) a cancelled request hides a success -------------------------------------------------


def _with_cancelled_first_request(doc: dict[str, Any]) -> dict[str, Any]:
    """probe-cli fetches over several endpoints at once and cancels the slower ones: the
    cancelled request is recorded with failure "interrupted", and may come first."""
    doc = copy.deepcopy(doc)
    tk = doc["test_keys"]
    ok = tk["requests"][0]
    cancelled = {
        **copy.deepcopy(ok),
        "failure": "interrupted",
        "response": {"body": "", "code": 0, "headers": {}, "headers_list": []},
        "transaction_id": ok["transaction_id"] + 1,
    }
    tk["requests"] = [cancelled, ok]
    tk["http_experiment_failure"] = None
    return doc


@pytest.mark.parametrize("name", ["qa/successWithHTTPS.json", "qa/successWithHTTP.json"])
def test_a_cancelled_first_request_beside_a_200_with_the_right_title_is_ok(
    ooni_data: Path, name: str
) -> None:
    doc = _with_cancelled_first_request(_load(ooni_data, name))
    assert doc["test_keys"]["requests"][0]["failure"] == "interrupted"
    v = analyze_document(doc, name)
    assert (v.outcome, v.rule_id) == ("ok", "page.match"), v.evidence
    keys = ooni_summary(doc["test_keys"], doc["input"], doc["probe_cc"]).keys
    assert (keys["blocking"], keys["accessible"], keys["title_match"]) == (False, True, True)


def test_a_cancelled_request_alone_is_still_not_evidence_of_a_block(ooni_data: Path) -> None:
    doc = _with_cancelled_first_request(_load(ooni_data, "qa/successWithHTTPS.json"))
    doc["test_keys"]["requests"] = doc["test_keys"]["requests"][:1]
    v = analyze_document(doc)
    assert v.outcome == "inconclusive" and "interrupted" in v.evidence[0]


# -- (b) IPv6 on a probe without an IPv6 route -------------------------------------------------


def _noipv6(ooni_data: Path) -> dict[str, Any]:
    # probe-cli's capture from a probe with no IPv6 route: every AAAA connect failed with
    # host_unreachable, every IPv4 one worked; no request recorded (as when the fetch itself
    # was cut short), so the connects are all the verdict has.
    doc = copy.deepcopy(_load(ooni_data, "manual/noipv6.json"))
    doc["test_keys"]["requests"] = []
    doc["test_keys"]["http_experiment_failure"] = None
    return doc


def test_ipv6_connect_failures_on_a_probe_without_ipv6_are_not_blocking(ooni_data: Path) -> None:
    doc = _noipv6(ooni_data)
    v6 = [c for c in doc["test_keys"]["tcp_connect"] if ":" in c["ip"]]
    assert v6 and all(c["status"]["failure"] == "host_unreachable" for c in v6)
    v = analyze_document(doc, "noipv6")  # once blocked tcp.timeout on an AAAA address
    assert v.outcome == "inconclusive" and v.rule_id == "fetch.nothing", v.evidence
    assert any("no IPv6 route" in e for e in v.evidence)
    assert ooni_summary(doc["test_keys"], doc["input"]).keys["blocking"] is None


def test_ipv4_failures_still_count_when_ipv6_is_set_aside(ooni_data: Path) -> None:
    doc = _noipv6(ooni_data)
    for c in doc["test_keys"]["tcp_connect"]:
        if ":" not in c["ip"]:
            c["status"] = {"failure": "generic_timeout_error", "success": False}
    v = analyze_document(doc, "noipv6-v4-blocked")
    assert (v.outcome, v.method) == ("blocked", "tcp.timeout")
    assert ":" not in v.evidence[0].split(" failed")[0].rsplit(" ", 1)[-1].rsplit(":", 1)[0]
    assert ooni_summary(doc["test_keys"], doc["input"]).keys["blocking"] == "tcp_ip"


def test_ipv6_failures_count_where_the_probe_does_reach_ipv6(ooni_data: Path) -> None:
    # youtube.json: the same site from a probe with IPv6; one AAAA connect failing there is
    # a fact about that address, not about the probe's route.
    doc = copy.deepcopy(_load(ooni_data, "manual/youtube.json"))
    tk = doc["test_keys"]
    tk["requests"], tk["http_experiment_failure"] = [], None
    v6 = [c for c in tk["tcp_connect"] if ":" in c["ip"]]
    assert len(v6) >= 2
    v6[0]["status"] = {"failure": "connection_refused", "success": False}
    v = analyze_document(doc, "youtube-one-v6-refused")
    assert (v.outcome, v.method) == ("blocked", "tcp.reset") and v6[0]["ip"] in v.evidence[0]


# -- (c) fingerprints confirm only in their countries ----------------------------------------


def test_an_iranian_dns_fingerprint_confirms_in_iran(ooni_data: Path) -> None:
    doc = _load(ooni_data, "fastpath/web_connectivity_ir_fp.json")
    v = analyze_document(doc)
    assert doc["probe_cc"] == "IR"
    assert (v.method, v.confirmed, v.fingerprint) == (
        "dns.blockpage_ip",
        True,
        "bw.ir_dns_10_10_34",
    )


def test_the_same_answer_seen_from_germany_rests_on_the_bogon_rule(ooni_data: Path) -> None:
    doc = copy.deepcopy(_load(ooni_data, "fastpath/web_connectivity_ir_fp.json"))
    doc["probe_cc"] = "DE"
    v = analyze_document(doc)
    assert (v.outcome, v.method, v.confirmed, v.fingerprint) == (
        "blocked",
        "dns.bogon",
        False,
        None,
    )
    assert any("expected in IR only, not DE" in e for e in v.evidence)


def test_an_indonesian_http_fingerprint_confirms_only_in_indonesia(ooni_data: Path) -> None:
    name = "fastpath/20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json"
    doc = _load(ooni_data, name)
    v = analyze_document(doc)
    assert (v.method, v.confirmed) == ("http.blockpage", True)
    elsewhere = copy.deepcopy(doc)
    elsewhere["probe_cc"] = "MY"
    v = analyze_document(elsewhere)
    assert not v.confirmed and v.method != "http.blockpage" and v.fingerprint is None
    assert any("bw.id_aduankonten_forward, expected in ID only, not MY" in e for e in v.evidence)


# -- (d) a site's own broken redirect ---------------------------------------------------------


@pytest.mark.parametrize("scheme", ["HTTP", "HTTPS"])
def test_a_broken_redirect_of_the_site_itself_is_down(ooni_data: Path, scheme: str) -> None:
    v = analyze_document(_load(ooni_data, f"qa/redirectWithBrokenLocationFor{scheme}.json"))
    assert (v.outcome, v.method, v.rule_id) == ("down", None, "fetch.broken_redirect")
