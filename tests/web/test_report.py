"""The evidence report: self-contained, complete, and checkable with its SHA-256."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from blockwatch.cli import app
from blockwatch.store import Filter
from blockwatch.web import report, report_check
from blockwatch.web.report import write_report

runner = CliRunner()


@pytest.fixture(scope="module")
def event_report(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "event.html"
    return write_report(store_path, out, event_id="ev-x-PK")


def test_event_report_states_what_where_when_how_and_lists_every_measurement(
    event_report: Path,
) -> None:
    html = event_report.read_text()
    for text in (
        "x.com",
        "PK",
        "AS17557",
        "AS9541",
        "2024-02-17",
        "2024-03-05",
        "web_connectivity",
        "Methodology",
        "tls.reset",
        "dns.nxdomain",
    ):
        assert text in html, text
    ids = re.findall(r'<td class="mono">(m-[^<]+)</td>', html)
    meta = report_check.read_meta(event_report)
    assert sorted(ids) == meta["measurement_ids"] and len(ids) == 137
    assert html.count('<svg class="timeline"') == 3


def test_report_is_self_contained_with_no_external_resource_and_no_active_script(
    event_report: Path,
) -> None:
    html = event_report.read_text()
    assert not re.search(r'(src|href)=["\']?(https?:)?//', html)
    assert "<link" not in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == [
        '<script type="application/json" id="blockwatch-report">',
        '<script type="application/json" id="blockwatch-seal">',
    ]


def test_the_hostile_blockpage_stays_text_in_the_report(store_path: Path, tmp_path: Path) -> None:
    scope = Filter(country="PK", domain="x.com")
    html = write_report(store_path, tmp_path / "x.html", scope=scope).read_text()
    assert "m-hostile" in html
    assert "<script>window.__pwned" not in html
    assert "onerror=" not in html or "&lt;img" in html


def test_verify_recomputes_the_stated_sha256_from_the_store(
    event_report: Path, store_path: Path
) -> None:
    result = report_check.verify(event_report, store_path)
    assert result.ok and result.measurements == 137
    stated = re.search(r'id="sha256">([0-9a-f]{64})<', event_report.read_text()).group(1)
    assert stated == result.stated


def test_data_out_writes_the_exact_bytes_the_digest_is_over(
    event_report: Path, store_path: Path, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    res = runner.invoke(
        app,
        ["report", "--verify", str(event_report), "--db", str(store_path), "--data-out", str(rows)],
    )
    assert res.exit_code == 0, res.output
    assert "OK: 137 measurements unchanged" in res.output
    digest = hashlib.sha256(rows.read_bytes()).hexdigest()
    assert digest == report_check.read_meta(event_report)["sha256"]
    assert len(rows.read_bytes().splitlines()) == 137


def test_verify_detects_an_altered_verdict(
    event_report: Path, store_path: Path, tmp_path: Path
) -> None:
    altered = tmp_path / "altered.duckdb"
    shutil.copy(store_path, altered)
    con = duckdb.connect(str(altered))
    con.execute("UPDATE verdicts SET outcome = 'ok' WHERE measurement_id = 'm-AS9541-x.com-41'")
    con.close()
    assert not report_check.verify(event_report, altered).ok
    res = runner.invoke(app, ["report", "--verify", str(event_report), "--db", str(altered)])
    assert res.exit_code == 1 and "MISMATCH" in res.output


def test_the_checksum_covers_stored_verdict_columns_only() -> None:
    from blockwatch.store.schema import VERDICT_FIELDS

    assert set(report.CHECKSUM_VERDICT_FIELDS) <= set(VERDICT_FIELDS)


def test_the_report_is_narrowed_by_since_and_until_or_their_older_spellings(
    store_path: Path, tmp_path: Path
) -> None:
    scope = ["report", "--db", str(store_path), "--country", "PK", "--domain", "x.com"]
    ids = {}
    for name, rng in {
        "all": [],
        "new": ["--since", "2024-02-20", "--until", "2024-02-22"],
        "old": ["--from", "2024-02-20", "--to", "2024-02-21"],
    }.items():
        out = tmp_path / f"{name}.html"
        res = runner.invoke(app, [*scope, *rng, "--out", str(out)])
        assert res.exit_code == 0, res.output
        ids[name] = report_check.read_meta(out)["measurement_ids"]
    assert ids["new"] == ids["old"] and 0 < len(ids["new"]) < len(ids["all"])


def test_report_command_writes_html_and_rejects_other_suffixes(
    store_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    res = runner.invoke(
        app,
        [
            "report",
            "--db",
            str(store_path),
            "--country",
            "PK",
            "--domain",
            "x.com",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert out.is_file()
    res = runner.invoke(
        app,
        [
            "report",
            "--db",
            str(store_path),
            "--event",
            "ev-x-PK",
            "--out",
            str(tmp_path / "r.docx"),
        ],
    )
    assert res.exit_code == 2 and "must end in .html or .pdf" in res.output


def test_report_on_an_unknown_event_is_a_clean_error(store_path: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["report", "--db", str(store_path), "--event", "nope", "--out", str(tmp_path / "r.html")],
    )
    assert res.exit_code == 2 and "no event 'nope'" in res.output


@pytest.mark.browser
def test_pdf_report_is_printed_by_headless_chromium(store_path: Path, tmp_path: Path) -> None:
    if report.chromium_path() is None:
        pytest.skip("PDF needs Debian's chromium (`make setup` installs it as root)")
    out = write_report(store_path, tmp_path / "event.pdf", event_id="ev-x-AS17557")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 5000


def test_an_outage_report_says_outage_not_censorship(store_path: Path, tmp_path: Path) -> None:
    html = write_report(store_path, tmp_path / "o.html", event_id="ev-outage-135407").read_text()
    assert "outage (not censorship)" in html
    assert "all domains" in html
    assert report_check.verify(tmp_path / "o.html", store_path).ok


def test_verify_says_mismatch_when_a_stored_raw_block_no_longer_decompresses(
    event_report: Path, store_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.duckdb"
    shutil.copy(store_path, broken)
    con = duckdb.connect(str(broken))
    con.execute("UPDATE raw_blocks SET data = '\\x00\\x01not lz4'::BLOB")
    con.close()
    rows = tmp_path / "rows.jsonl"
    res = runner.invoke(
        app,
        ["report", "--verify", str(event_report), "--db", str(broken), "--data-out", str(rows)],
    )
    assert res.exit_code == 1, res.output
    assert "MISMATCH" in res.output and "the stored data is unreadable" in res.output
    assert "not written" in res.output and not rows.exists()
