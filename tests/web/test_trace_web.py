"""Where on the path, on the event page, its API route and the evidence report: the
``blockwatch_trace`` measurements of the event's domain, country and networks near its span,
and none of another domain, country, network or time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from webstore import fill_store, serving

from blockwatch.pipeline import ingest_documents
from blockwatch.store import Store
from blockwatch.web.report import write_report
from blockwatch.web.report_check import read_meta, verify
from tracedocs import finding, trace_doc

SHOWN = "the reset is injected at hop 3 (10.20.0.3) on the TLS packet, inside AS17557 (PTCL)"
DURING = datetime(2024, 2, 20, 12, tzinfo=UTC)
# The x.com event ev-x-PK covers AS17557 and AS9541 from 02-17 to 03-05 (webstore.py).
TRACES = {
    "shown": trace_doc(
        DURING, "PK", "AS17557", "https://x.com/", [finding(3, "10.20.0.3", "AS17557")]
    ),
    "resolver": trace_doc(
        DURING, "PK", "AS9541", "https://x.com/", [], lying_resolver="answers NXDOMAIN"
    ),
    "other domain": trace_doc(
        DURING, "PK", "AS17557", "https://twitter.com/", [finding(4, "10.20.0.44", "AS17557")]
    ),
    "other country": trace_doc(
        DURING, "IR", "AS17557", "https://x.com/", [finding(5, "10.20.0.55", "AS17557")]
    ),
    "other network": trace_doc(
        DURING, "PK", "AS135407", "https://x.com/", [finding(6, "10.20.0.66", "AS135407")]
    ),
    "long before": trace_doc(
        datetime(2023, 6, 1, tzinfo=UTC),
        "PK",
        "AS17557",
        "https://x.com/",
        [finding(7, "10.20.0.77", "AS17557")],
    ),
}
NOT_SHOWN = ("10.20.0.44", "10.20.0.55", "10.20.0.66", "10.20.0.77")


@pytest.fixture(scope="module")
def traced_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("traced") / "store.duckdb"
    fill_store(path)
    with Store(path) as store:
        store.set_network_names({"AS17557": "PTCL"})
        report = ingest_documents(store, list(TRACES.values()))
    assert report.added == len(TRACES) and report.malformed == 0
    return path


@pytest.fixture(scope="module")
def http(traced_store: Path) -> Iterator[httpx.Client]:
    with serving(traced_store) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def test_the_event_page_shows_the_hop_its_address_as_and_isp_name(http: httpx.Client) -> None:
    page = http.get("/event/ev-x-PK").text
    assert 'id="traces"' in page and SHOWN in page
    assert "tls.reset" in page and "AS17557 (PTCL)" in page
    assert "the resolver 10.0.0.53 (hop 1, the endpoint) lies: answers NXDOMAIN" in page
    assert not any(address in page for address in NOT_SHOWN)


def test_the_event_api_lists_the_same_traces(http: httpx.Client) -> None:
    traces = http.get("/api/events/ev-x-PK").json()["traces"]
    assert sorted(t["probe_asn"] for t in traces) == ["AS17557", "AS9541"]
    hop = next(t for t in traces if t["probe_asn"] == "AS17557")["findings"][0]
    assert hop == {
        "hop": 3,
        "address": "10.20.0.3",
        "after": None,
        "asn": "AS17557",
        "as_name": "PTCL",
        "technique": "tls.reset",
        "sentence": SHOWN,
    }
    assert hop["sentence"] in http.get("/event/ev-x-AS17557").text


def test_an_outage_event_has_no_traces(http: httpx.Client) -> None:
    assert http.get("/api/events/ev-outage-135407").json()["traces"] == []


def test_the_report_lists_and_hashes_the_traces_and_still_verifies(
    traced_store: Path, tmp_path: Path
) -> None:
    out = write_report(traced_store, tmp_path / "r.html", event_id="ev-x-PK")
    page = out.read_text()
    assert SHOWN in page and not any(address in page for address in NOT_SHOWN)
    with Store(traced_store, read_only=True) as store:
        ids = {
            r[0]
            for r in store.cursor()
            .execute("SELECT measurement_id FROM verdicts WHERE test_name = 'blockwatch_trace'")
            .fetchall()
        }
    hashed = set(read_meta(out)["measurement_ids"])
    assert len(ids & hashed) == 2  # the two traces shown, and no other
    result = verify(out, traced_store)
    assert result.ok, result.problems
