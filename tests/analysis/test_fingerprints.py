"""The fingerprint engine: OONI's real tables, our shipped table, bad rows, and the known
blockpages in the shared data being confirmed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from blockwatch.analysis.fingerprints import DEFAULT_TABLE, Fingerprint, FingerprintTable
from blockwatch.analysis.verdict import analyze, analyze_document
from blockwatch.errors import FingerprintError
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import RawDocument, iter_documents

RU_BLOCKPAGE = (
    "measurement_meta__measurement_uid-01202003039e13e3e38be1918d3a64c2ec27ea22_full-true.json"
)


@pytest.fixture(scope="module")
def ooni_tables(shared_data: Path) -> FingerprintTable:
    folder = shared_data / "fingerprints"
    if not (folder / "fingerprints_http.csv").is_file():
        pytest.skip(f"OONI's fingerprint tables are absent from {folder}")
    http = FingerprintTable.load(folder / "fingerprints_http.csv")
    dns = FingerprintTable.load(folder / "fingerprints_dns.csv")
    return http.merged(dns)


def test_oonis_csv_and_json_tables_load_with_every_row(shared_data):
    folder = shared_data / "fingerprints"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    assert len(FingerprintTable.load(folder / "fingerprints_http.csv")) == 1729
    assert len(FingerprintTable.load(folder / "fingerprints_dns.csv")) == 226
    assert len(FingerprintTable.load(folder / "fingerprints_http.json")) == 1699
    dns = FingerprintTable.load(folder / "fingerprints_dns.json")
    hit = dns.match_dns("10.10.34.36")
    assert hit is not None and "IR" in hit.expected_countries


def test_each_location_and_pattern_type_matches_as_ooni_defines_it(ooni_tables):
    hit = ooni_tables.match_headers({"Server": "Protected by WireFilter 8000"})  # prefix
    assert hit is not None and hit.name == "ooni.ae_0"
    hit = ooni_tables.match_headers({"location": "http://www.warning.or.kr"})  # full
    assert hit is not None and hit.name == "ooni.kr_2"
    assert ooni_tables.match_headers({"Location": "http://www.warning.or.kr/x"}) is None
    hit = ooni_tables.match_body("<p>see http://eais.rkn.gov.ru/ for details</p>")  # contains
    assert hit is not None and "RU" in hit.expected_countries
    assert ooni_tables.match_dns("8.7.198.45") is not None
    assert ooni_tables.match_dns("8.7.198.46") is None


def test_a_regexp_row_matches_by_search():
    table = FingerprintTable.from_csv(
        "name,scope,location_found,pattern_type,pattern\n"
        "x.re,isp,body,regexp,blocked\\s+by\\s+[A-Z]{3}\n"
    )
    assert table.match_body("this site is blocked  by  ABC today").name == "x.re"
    assert table.match_body("blocked by abc") is None


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("bad.kind,isp,body,glob,x", "unknown pattern_type 'glob'"),
        ("bad.loc,isp,footer,contains,x", "unknown location_found 'footer'"),
        ("bad.hdr,isp,header.,contains,x", "unknown location_found 'header.'"),
        ("bad.re,isp,body,regexp,(unclosed", "bad regexp"),
        ("bad.empty,isp,body,contains,", "empty or missing pattern"),
        (",isp,body,contains,x", "missing name"),
    ],
)
def test_a_bad_row_raises_fingerprint_error_naming_the_row(row, reason):
    text = "name,scope,location_found,pattern_type,pattern\nok.row,isp,dns,full,1.2.3.4\n" + row
    with pytest.raises(FingerprintError) as info:
        FingerprintTable.from_csv(text, source="mine.csv")
    assert info.value.row == 3 and info.value.source == "mine.csv"
    assert reason in info.value.reason


def test_json_rows_that_are_not_objects_are_refused():
    with pytest.raises(FingerprintError) as info:
        FingerprintTable.from_json(
            '[{"name": "a", "location_found": "dns", '
            '"pattern_type": "full", "pattern": "1.1.1.1"}, 5]'
        )
    assert info.value.row == 2


def test_the_shipped_table_is_ours_and_holds_the_lab_censor():
    table = FingerprintTable.default()
    assert DEFAULT_TABLE.is_file() and 10 <= len(table) <= 40
    assert all(fp.name.startswith("bw.") for fp in table.rows)
    lab = {fp.name: fp for fp in table.rows if fp.scope == "lab"}
    assert lab["bw.lab_body"].pattern == "blockwatch-lab-censor"
    assert lab["bw.lab_dns"].pattern == "10.66.255.66"
    assert table.match_body("<p>blockwatch-lab-censor</p>") is lab["bw.lab_body"]
    assert table.match_dns("10.66.255.66") is lab["bw.lab_dns"]


def test_merged_tables_keep_the_first_tables_rows_first():
    a = FingerprintTable([Fingerprint("a", "isp", "body", "contains", "block")])
    b = FingerprintTable([Fingerprint("b", "nat", "body", "contains", "blocked")])
    assert a.merged(b).match_body("blocked").name == "a"
    assert b.merged(a).match_body("blocked").name == "b"
    assert len(a.merged(b)) == 2


def _explorer(ooni_data: Path, name: str):
    [item] = list(iter_documents([ooni_data / "explorer" / name]))
    assert isinstance(item, RawDocument)
    return parse_measurement(item.doc, item.source)


def test_the_confirmed_russian_blockpage_is_confirmed_by_both_tables(ooni_data, ooni_tables):
    m = _explorer(ooni_data, RU_BLOCKPAGE)
    for table in (None, ooni_tables):
        v = analyze(m, table)
        assert (v.outcome, v.method, v.confirmed) == ("blocked", "http.blockpage", True)
        assert v.fingerprint is not None and "scope" in v.evidence[0]


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("web_connectivity_ir_fp.json", "bw.ir_dns_10_10_34"),
        ("bug_352.json", "bw.ir_dns_10_10_34"),
        ("web_connectivity_b64_hdr.json", "bw.prod_checkpoint_usercheck"),  # base64 Location
        (
            "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json",
            "bw.id_aduankonten_forward",
        ),
    ],
)
def test_known_blockpages_in_the_fastpath_data_are_confirmed(ooni_data, ooni_tables, name, ours):
    doc = orjson.loads((ooni_data / "fastpath" / name).read_bytes())
    v = analyze_document(doc, name)
    assert v.confirmed and v.fingerprint == ours and v.outcome == "blocked"
    v = analyze_document(doc, name, fingerprints=ooni_tables)
    assert v.confirmed and v.fingerprint is not None and not v.fingerprint.startswith("bw.")


def test_a_false_positive_row_never_confirms_a_block(ooni_data):
    doc = orjson.loads((ooni_data / "qa" / "cloudflareCAPTCHAWithHTTP.json").read_bytes())
    v = analyze_document(doc)
    assert v.fingerprint == "bw.fp_cloudflare_challenge"
    assert (v.outcome, v.confirmed) == ("ok", False)


def test_a_blockpage_address_the_control_also_got_is_the_sites_own(ooni_data, ooni_tables):
    # OONI's DNS table lists 127.0.0.1 (used by Brazilian ISPs); this QA site really
    # resolves to 127.0.0.1 for everyone, the control included.
    doc = orjson.loads((ooni_data / "qa" / "localhostWithHTTP.json").read_bytes())
    v = analyze_document(doc, fingerprints=ooni_tables)
    assert (v.outcome, v.confirmed) == ("down", False)
    doc = orjson.loads((ooni_data / "qa" / "dnsHijackingToLocalhostWithHTTP.json").read_bytes())
    v = analyze_document(doc, fingerprints=ooni_tables)
    assert (v.outcome, v.method, v.confirmed) == ("blocked", "dns.blockpage_ip", True)
