"""Agreement with OONI's own stored verdict (test_keys.blocking) on every real measurement.

Where OONI's word is unambiguous ("dns", "tcp_ip", "http-failure", "http-diff" or false),
our outcome agrees: blocked exactly when OONI says blocking. The exceptions are the cases
where OONI is demonstrably wrong; each has a test of its own below that says why.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from blockwatch.analysis.verdict import OONI_BLOCKED, analyze, analyze_document
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import RawDocument, iter_documents

# file name -> why OONI's blocking word is wrong (tested one by one below)
OONI_WRONG = {
    "cloudflareCAPTCHAWithHTTP.json": "a CDN's CAPTCHA is the site's bot defence",
    "redirectWithBrokenLocationForHTTP.json": "the site itself sends a broken redirect",
    "redirectWithBrokenLocationForHTTPS.json": "the site itself sends a broken redirect",
    "bug_351.json": "the failure is the old probe's own text-decoding bug",
    "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json": "a block redirect",
}


def _web_connectivity(ooni_data: Path):
    folders = [ooni_data / d for d in ("qa", "manual", "fastpath", "explorer")]
    for item in iter_documents(folders):
        if isinstance(item, RawDocument) and item.doc.get("test_name") == "web_connectivity":
            yield Path(item.source).name, parse_measurement(item.doc, item.source, item.line)


def test_our_outcome_agrees_with_every_unambiguous_ooni_verdict(ooni_data):
    checked, disagreements = 0, []
    for name, m in _web_connectivity(ooni_data):
        v = analyze(m)
        if v.ooni_blocking not in OONI_BLOCKED | {"false"} or name in OONI_WRONG:
            continue
        checked += 1
        ooni_blocked = v.ooni_blocking in OONI_BLOCKED
        if v.outcome == "inconclusive" or (v.outcome == "blocked") != ooni_blocked:
            disagreements.append((name, v.ooni_blocking, v.outcome, v.evidence))
        assert v.ooni_disagrees is False, name
    assert checked == 69  # every web_connectivity measurement with an unambiguous word
    assert disagreements == []


def _qa(ooni_data: Path, name: str) -> dict:
    return orjson.loads((ooni_data / "qa" / name).read_bytes())


def test_a_cloudflare_captcha_is_not_censorship_though_ooni_calls_it_http_diff(ooni_data):
    v = analyze_document(_qa(ooni_data, "cloudflareCAPTCHAWithHTTP.json"))
    assert v.ooni_blocking == "http-diff"
    assert (v.outcome, v.confirmed, v.ooni_disagrees) == ("ok", False, True)
    assert "not censorship" in v.evidence[0]


@pytest.mark.parametrize("scheme", ["HTTP", "HTTPS"])
def test_a_site_sending_a_broken_redirect_is_not_called_blocked(ooni_data, scheme):
    # probe-cli's scenario: the site answers `Location: http://` (ooni/probe#2628); no
    # censor is configured, yet OONI reports http-failure.
    v = analyze_document(_qa(ooni_data, f"redirectWithBrokenLocationFor{scheme}.json"))
    assert v.ooni_blocking == "http-failure"
    # The site is broken for everyone: down (it was inconclusive, a true word but not the
    # scenario's truth), and never blocked.
    assert v.outcome == "down" and v.rule_id == "fetch.broken_redirect"
    assert "http_invalid_redirect_location_host" in v.evidence[0]


def test_an_old_probes_decoding_bug_is_not_an_http_failure(ooni_data):
    doc = orjson.loads((ooni_data / "fastpath" / "bug_351.json").read_bytes())
    v = analyze_document(doc)
    assert v.ooni_blocking == "http-failure"
    assert v.outcome == "inconclusive" and "'ascii' codec" in v.evidence[0]


def test_an_indonesian_block_redirect_is_blocking_though_ooni_said_false(ooni_data):
    name = "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json"
    v = analyze_document(orjson.loads((ooni_data / "fastpath" / name).read_bytes()))
    assert v.ooni_blocking == "false" and v.ooni_disagrees
    assert (v.outcome, v.method, v.confirmed) == ("blocked", "http.blockpage", True)


@pytest.mark.parametrize("scheme", ["HTTP", "HTTPS"])
def test_a_download_slowed_to_a_crawl_is_throttling_not_an_http_failure(ooni_data, scheme):
    # probe-cli's scenario adds 300 ms of delay and 10% loss: the headers arrive, the
    # 16 MiB body never finishes, while the control fetched all of it.
    v = analyze_document(_qa(ooni_data, f"throttlingWith{scheme}.json"))
    assert v.ooni_blocking == "http-failure"
    assert (v.outcome, v.method) == ("blocked", "throttled")
    assert any("16777216" in e for e in v.evidence)


def test_the_known_pakistani_false_positive_is_not_called_blocked(ooni_data):
    # OONI's own analysis says "dns" for mask.icloud.com from PK; OONI treats it as a
    # false positive (Akamai and Apple addresses in different ASNs). Its test keys only.
    path = ooni_data / "manual" / "20230706183840.201925_PK_webconnectivity_19f5e0d803cbaea7.jsonc"
    [item] = list(iter_documents([path]))
    assert isinstance(item, RawDocument) and item.doc["blocking"] == "dns"
    doc = {
        "test_name": "web_connectivity",
        "measurement_start_time": "2023-07-06 18:38:40",
        "input": "https://mask.icloud.com/",
        "probe_cc": "PK",
        "test_keys": item.doc,
    }
    v = analyze_document(doc)
    assert v.outcome != "blocked" and v.ooni_disagrees
