"""Parsing the df-000 base keys of real measurements, and refusing unusable ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from blockwatch.analysis.observations import decode_body, http_requests
from blockwatch.errors import MalformedMeasurement
from blockwatch.ooni.measurement import domain_of, measurement_id, parse_measurement
from blockwatch.ooni.reader import RawDocument, iter_documents

UID = "20221110100919.165568_US_webconnectivity_782abf479bf32868"


def _load(path: Path) -> dict:
    return orjson.loads(path.read_bytes())


def test_a_qa_measurement_parses_to_its_base_keys(ooni_data):
    doc = _load(ooni_data / "qa" / "dnsBlockingNXDOMAIN.json")
    m = parse_measurement(doc, "qa.json", None)
    assert m.test_name == "web_connectivity"
    assert m.input == "https://www.example.com/" and m.domain == "www.example.com"
    assert (m.probe_cc, m.probe_asn) == ("IT", "AS137")
    assert m.measured_at == datetime(2024, 2, 12, 20, 33, 47, tzinfo=UTC)
    assert m.test_keys is doc["test_keys"] and m.raw is doc  # no copies on the hot path
    # No measurement_uid and an empty report_id: the stable hash of docs/schema.md.
    assert m.measurement_id == measurement_id(doc) and len(m.measurement_id) == 32


def test_the_measurement_uid_is_the_id_when_present(ooni_data):
    name = f"measurement_meta__measurement_uid-{UID}_full-true.json"
    [item] = list(iter_documents([ooni_data / "explorer" / name]))
    assert isinstance(item, RawDocument)
    m = parse_measurement(item.doc, item.source, item.line)
    assert m.measurement_id == UID
    assert m.domain == "www.theguardian.com"


def test_the_hashed_id_is_stable_and_depends_on_report_input_and_time():
    doc = {"report_id": "r", "input": "http://a/", "measurement_start_time": "2024-01-01 00:00:00"}
    assert measurement_id(doc) == measurement_id(dict(doc))
    assert measurement_id(doc) != measurement_id({**doc, "input": "http://b/"})


def test_every_real_measurement_in_the_shared_data_parses(ooni_data):
    count = 0
    for item in iter_documents([ooni_data / d for d in ("qa", "fastpath", "explorer")]):
        assert isinstance(item, RawDocument), item
        m = parse_measurement(item.doc, item.source, item.line)
        assert m.measured_at.tzinfo is UTC and m.probe_asn.startswith("AS")
        count += 1
    assert count >= 120


def test_iso_times_and_integer_asns_are_normalised():
    doc = {
        "test_name": "signal",
        "measurement_start_time": "2020-10-29T04:59:31Z",
        "probe_asn": 51604,
        "probe_cc": "ru",
    }
    m = parse_measurement(doc)
    assert m.measured_at == datetime(2020, 10, 29, 4, 59, 31, tzinfo=UTC)
    assert (m.probe_asn, m.probe_cc, m.input, m.domain) == ("AS51604", "RU", "", "")


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ({"measurement_start_time": "2024-01-01 00:00:00"}, "missing key 'test_name'"),
        ({"test_name": "web_connectivity"}, "missing key 'measurement_start_time'"),
        ({"test_name": 5, "measurement_start_time": "2024-01-01 00:00:00"}, "test_name"),
        ({"test_name": "x", "measurement_start_time": "yesterday"}, "is not a time"),
        ({"test_name": "x", "measurement_start_time": 17}, "not a string"),
        ({"test_name": "x", "measurement_start_time": "9999-12-31 23:59:59"}, "outside 2012"),
        ({"test_name": "x", "measurement_start_time": "2100-01-01T00:00:00Z"}, "outside 2012"),
        ({"test_name": "x", "measurement_start_time": "2011-12-31 23:59:59"}, "outside 2012"),
        ({"test_name": "x", "measurement_start_time": "0001-01-01T00:00:00Z"}, "outside 2012"),
        # The UTC time of this one does not exist: converting it overflowed.
        ({"test_name": "x", "measurement_start_time": "9999-12-31T23:59:59-01:00"}, "not a time"),
        (
            {"test_name": "x", "measurement_start_time": "2024-01-01 00:00:00", "test_keys": []},
            "test_keys is list",
        ),
        (
            {"test_name": "x", "measurement_start_time": "2024-01-01 00:00:00", "input": {}},
            "input is dict",
        ),
        (
            {"test_name": "x", "measurement_start_time": "2024-01-01 00:00:00", "probe_asn": 1.5},
            "probe_asn",
        ),
    ],
)
def test_unusable_documents_raise_malformed_measurement_naming_source_and_line(doc, reason):
    with pytest.raises(MalformedMeasurement) as info:
        parse_measurement(doc, "file.jsonl", 7)
    assert info.value.source == "file.jsonl" and info.value.line == 7
    assert reason in info.value.reason


def test_the_first_and_last_accepted_times_are_kept():
    for value in (
        "2012-01-01 00:00:00",
        "2099-12-31T23:59:59.999999Z",
        "2100-01-01T00:30:00+01:00",
    ):
        parse_measurement({"test_name": "x", "measurement_start_time": value})


def test_base64_bodies_are_decoded(ooni_data):
    doc = _load(ooni_data / "fastpath" / "web_connectivity_b64_incorrect.json")
    raw = [r["response"]["body"] for r in doc["test_keys"]["requests"]]
    assert any(isinstance(b, dict) and b.get("format") == "base64" for b in raw)
    bodies = [r.body for r in http_requests(doc["test_keys"])]
    assert all(isinstance(b, str) for b in bodies)
    assert (
        decode_body({"format": "base64", "data": "PHRpdGxlPmhpPC90aXRsZT4="}) == "<title>hi</title>"
    )
    assert decode_body({"format": "base64", "data": "!!!"}) == ""


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.Example.com/path?q=1", "www.example.com"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
        ("ooni.org", "ooni.org"),
        ("8.8.8.8:53", "8.8.8.8"),
        ("", ""),
    ],
)
def test_the_domain_is_the_lower_case_host_of_the_input(url, domain):
    assert domain_of(url) == domain
