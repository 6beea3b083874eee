"""The ASN database's names on the evidence report, the served pages and a trace's hop:
only where no measurement named the network."""

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
from blockwatch.web.report_check import verify
from storehelpers import Cli
from tracedocs import finding, trace_doc

TSV = (
    "39.32.0.0\t39.63.255.255\t17557\tPK\tPKTELECOM-AS-PK Pakistan Telecommunication\n"
    "10.66.0.0\t10.66.255.255\t64510\tZZ\tLAB-TRANSIT\n"
    "202.0.0.0\t202.0.255.255\t9541\tPK\tCYBERNET-AP Cyber Internet\n"
)


# -- the names on the report, the pages and a trace's hop ----------------------------------

HOP = "the reset is injected at hop 3 (10.66.61.5) on the TLS packet, inside AS64510 (LAB-TRANSIT)"


@pytest.fixture(scope="module")
def named_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The web tests' store with PTCL named by its measurements, AS9541 unnamed, a trace
    whose censor's AS (AS64510) the trace did not name; and an ASN database."""
    folder = tmp_path_factory.mktemp("named")
    path = folder / "store.duckdb"
    fill_store(path)
    doc = trace_doc(datetime(2024, 2, 20, tzinfo=UTC), "PK", "AS17557", "https://x.com/",
                    [finding(3, "10.66.61.5", "AS64510")])  # fmt: skip
    with Store(path) as store:
        store.set_network_names({"AS17557": "PTCL"})
        assert ingest_documents(store, [doc]).added == 1
    (folder / "ip2asn.tsv").write_text(TSV)
    return path, folder / "ip2asn.tsv"


def test_the_report_names_from_the_database_only_what_the_measurements_did_not(
    named_store: tuple[Path, Path], tmp_path: Path
) -> None:
    path, asn_db = named_store
    page = write_report(path, tmp_path / "r.html", event_id="ev-x-PK", asn_db=asn_db).read_text()
    assert "AS9541 (CYBERNET-AP Cyber Internet)" in page
    assert "AS17557 (PTCL)" in page and "PKTELECOM" not in page  # the measurement's name wins
    assert HOP in page
    assert verify(tmp_path / "r.html", path).ok
    bare = write_report(path, tmp_path / "bare.html", event_id="ev-x-PK").read_text()
    assert "CYBERNET" not in bare and "LAB-TRANSIT" not in bare


def test_report_takes_asn_db_from_the_option_or_the_environment(
    named_store: tuple[Path, Path], tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, asn_db = named_store
    out = tmp_path / "opt.html"
    done = cli("report", "--db", path, "--event", "ev-x-PK", "--out", out, "--asn-db", asn_db)
    assert done.exit_code == 0, done.output
    assert "CYBERNET-AP" in out.read_text()
    monkeypatch.setenv("BLOCKWATCH_ASN_DB", str(asn_db))
    out = tmp_path / "env.html"
    assert cli("report", "--db", path, "--event", "ev-x-PK", "--out", out).exit_code == 0
    assert "CYBERNET-AP" in out.read_text()
    bad = cli("report", "--db", path, "--event", "ev-x-PK", "--out", out, "--asn-db", out)
    assert bad.exit_code == 2 and "not an ASN database" in bad.output


@pytest.fixture(scope="module")
def named_http(named_store: tuple[Path, Path]) -> Iterator[httpx.Client]:
    path, asn_db = named_store
    with (
        serving(path, "--asn-db", str(asn_db)) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client


def test_serve_names_networks_and_hops_from_the_database(named_http: httpx.Client) -> None:
    page = named_http.get("/event/ev-x-PK").text
    assert "AS9541 (CYBERNET-AP Cyber Internet)" in page and "AS17557 (PTCL)" in page
    assert HOP in page
    hop = named_http.get("/api/events/ev-x-PK").json()["traces"][0]["findings"][0]
    assert hop["asn"] == "AS64510" and hop["as_name"] == "LAB-TRANSIT"
    # The report is built in a worker process: it opens the same database.
    assert (
        "AS9541 (CYBERNET-AP Cyber Internet)" in named_http.get("/event/ev-x-PK/report.html").text
    )


def test_the_home_page_answer_names_networks_from_the_database(
    named_http: httpx.Client,
) -> None:
    answer = named_http.get("/api/services", params={"q": "X in PK"}).json()["answers"][0]
    names = {n["probe_asn"]: n["name"] for n in answer["networks"]}
    assert names == {"AS17557": "PTCL", "AS9541": "CYBERNET-AP Cyber Internet"}
