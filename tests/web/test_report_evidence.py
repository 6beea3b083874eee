"""The report's evidence is complete: every measurement behind an event's figures (blocked
or not) is listed and hashed, the PDF's text keeps each id and the hash whole, ongoing events
say as of when, and the sources say what is real and what is simulated."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest
from typer.testing import CliRunner
from webstore import _mrow, _raw, fill_store

from blockwatch.analysis.events import detect_events
from blockwatch.analysis.records import Verdict
from blockwatch.cli import app
from blockwatch.config import shared_data_dir
from blockwatch.store import Store, schema
from blockwatch.store.rawcodec import BlockBuilder
from blockwatch.web import provenance, report, report_check
from blockwatch.web.report import write_report

runner = CliRunner()


def _detected_store(path: Path, until: datetime | None = None) -> list[dict]:
    """The web tests' store with its events found by the real detector (which stores an
    event's blocked measurements only); ``until``: verdicts after it are left out first."""
    fill_store(path)
    con = duckdb.connect(str(path))
    if until is not None:
        con.execute("DELETE FROM verdicts WHERE measured_at >= ?", [until.replace(tzinfo=None)])
    con.close()
    with Store(path) as store:
        events = detect_events(store.verdicts())
        store.replace_events(events)
    return [e for e in events if e.kind == "censorship" and e.probe_asn is not None]


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("detected") / "s.duckdb"
    return path, _detected_store(path)


def _series_ids(db: Path, e) -> set[str]:
    """Every conclusive measurement of the event's series in its span, from the store."""
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT measurement_id FROM verdicts WHERE probe_asn = ? AND domain = ?"
        " AND outcome IN ('ok', 'blocked') AND measured_at BETWEEN ? AND ?",
        [e.probe_asn, e.domain, e.start.replace(tzinfo=None), e.end.replace(tzinfo=None)],
    ).fetchall()
    con.close()
    return {r[0] for r in rows}


def test_the_report_lists_every_measurement_behind_the_availability_not_only_the_blocked(
    detected: tuple[Path, list], tmp_path: Path
) -> None:
    db, events = detected
    e = max(events, key=lambda e: len(e.measurements))
    out = write_report(db, tmp_path / "e.html", event_id=e.event_id)
    listed = set(report_check.read_meta(out)["measurement_ids"])
    window = _series_ids(db, e)
    got_through = window - set(e.measurements)
    assert got_through, "an intermittent block: some measurements got through"
    assert set(e.measurements) <= listed and window <= listed
    html = out.read_text()
    for mid in window:
        assert f">{mid}<" in html, mid
    # The document's own count of what got through gives the stated availability.
    row = re.search(r"<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)%</td>", html)
    n, blocked, through, pct = map(int, row.groups())
    assert (n, through) == (len(window), len(got_through)) and blocked + through == n
    assert abs(pct - round(100 * e.availability)) <= 1
    result = report_check.verify(out, db)
    assert result.ok and result.measurements == len(listed), result.problems


def test_an_ongoing_event_says_ongoing_as_of_its_last_measurement(tmp_path: Path) -> None:
    cut = datetime(2024, 3, 1, tzinfo=UTC)
    events = _detected_store(tmp_path / "s.duckdb", until=cut)
    ongoing = [e for e in events if e.end is None]
    assert ongoing
    html = write_report(tmp_path / "s.duckdb", tmp_path / "o.html", event_id=ongoing[0].event_id)
    last = (cut - timedelta(hours=6)).strftime("%Y-%m-%d %H:%M")
    assert f"ongoing as of {last}" in html.read_text()


def _pdftotext(pdf: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils; `make setup` installs it as root) is absent")
    return subprocess.run(
        [exe, "-raw", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout


@pytest.mark.browser
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_the_pdf_text_holds_every_id_and_the_hash_unbroken(
    detected: tuple[Path, list], tmp_path: Path, paper: str
) -> None:
    if report.chromium_path() is None:
        pytest.skip("PDF needs Debian's chromium (`make setup` installs it as root)")
    db, events = detected
    e = max(events, key=lambda e: len(e.measurements))
    html = write_report(db, tmp_path / "e.html", event_id=e.event_id)
    meta = report_check.read_meta(html)
    pdf = write_report(db, tmp_path / "e.pdf", event_id=e.event_id, paper=paper)
    words = set(_pdftotext(pdf).split())
    assert meta["sha256"] in words
    missing = [mid for mid in meta["measurement_ids"] if mid not in words]
    assert not missing, missing[:5]
    assert "https://x.com/" in words
    assert "1" in words and re.search(r"page 1 of \d+", _pdftotext(pdf))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert {"a4": "(A4)", "letter": "(letter)"}[paper] in info, info


def _sourced_store(path: Path) -> None:
    """x.com in PK measured three ways: by OONI Probe, by the lab, by a QA-style run."""
    block, rows, verdicts = BlockBuilder(), [], []
    at = datetime(2024, 2, 20, tzinfo=UTC)
    kinds = {
        "20240220000000.000000_PK_webconnectivity_0123456789abcdef": (
            "20240220T000000Z_webconnectivity_PK_17557_n1_AbCdEf0123456789",
            "ooniprobe-android",
            "3.8.2",
        ),
        "m-lab-1": (
            "20240220T000000Z_webconnectivity_PK_AS17557_bwlab00012",
            "blockwatch",
            "0.1.0",
        ),
        "m-qa-1": ("", "ooniprobe", "3.22.0-alpha"),
    }
    for i, (mid, (rid, soft, version)) in enumerate(kinds.items()):
        raw = _raw(mid, at + timedelta(minutes=i), "AS17557", "https://x.com/", "dns")
        raw.update(report_id=rid, software_name=soft, software_version=version)
        rows.append(_mrow(block, mid, at + timedelta(minutes=i), "AS17557", "https://x.com/",
                          "x.com", raw))  # fmt: skip
        verdicts.append(Verdict(mid, at + timedelta(minutes=i), "PK", "AS17557",
                                "https://x.com/", "x.com", "web_connectivity", "blocked",
                                "dns.nxdomain", 0.9, False, ("no such name",)))  # fmt: skip
    with Store(path) as store:
        store.write_batch(
            rows, [schema.record_to_row(v) for v in verdicts], blocks=[block.finish()]
        )


def test_the_report_says_where_each_measurement_came_from(tmp_path: Path) -> None:
    _sourced_store(tmp_path / "s.duckdb")
    scope = report.Filter(country="PK", domain="x.com")
    html = write_report(tmp_path / "s.duckdb", tmp_path / "r.html", scope=scope).read_text()
    uid = "20240220000000.000000_PK_webconnectivity_0123456789abcdef"
    assert f'href="https://explorer.ooni.org/m/{uid}"' in html
    assert "20240220T000000Z_webconnectivity_PK_17557_n1_AbCdEf0123456789" in html
    assert "ooniprobe-android 3.8.2" in html
    assert "SIMULATED" in html and "virtual clock" in html and "_bwlab00012" in html
    assert "Never published" in html
    # Only OONI's own measurements link to OONI Explorer.
    assert html.count('href="https://explorer.ooni.org/m/') == 1
    assert "test_keys.queries (the DNS answers)" in html


def test_oonis_qa_runs_are_unpublished_simulations_never_ooni_data() -> None:
    qa = shared_data_dir() / "ooni" / "qa"
    if not qa.is_dir():
        pytest.skip(f"no OONI QA runs at {qa} (the shared data folder is absent)")
    docs = [orjson.loads(p.read_bytes()) for p in sorted(qa.glob("*.json"))]
    assert docs and {provenance.origin_of(d) for d in docs} == {"unpublished"}
    assert all(provenance.explorer_url(d) is None for d in docs)


def test_report_paper_option_takes_a4_or_letter_and_refuses_others(
    detected: tuple[Path, list], tmp_path: Path
) -> None:
    db, events = detected
    base = ["report", "--db", str(db), "--event", events[0].event_id]
    ok = runner.invoke(app, [*base, "--paper", "letter", "--out", str(tmp_path / "l.html")])
    assert ok.exit_code == 0, ok.output
    assert "size: letter" in (tmp_path / "l.html").read_text()
    bad = runner.invoke(app, [*base, "--paper", "a5", "--out", str(tmp_path / "x.html")])
    assert bad.exit_code == 2 and "a4, letter" in bad.output
    assert not (tmp_path / "x.html").exists()


def test_an_excerpt_shows_the_reset_after_the_client_hello_of_a_real_record() -> None:
    path = shared_data_dir() / "ooni" / "qa" / "tlsBlockingConnectionResetWithConsistentDNS.json"
    if not path.is_file():
        pytest.skip(f"no OONI QA record at {path} (the shared data folder is absent)")
    doc = orjson.loads(path.read_bytes())
    verdict = {"measurement_id": "m-1", "outcome": "blocked", "method": "tls.reset"}
    (x,) = provenance.excerpts([verdict], {"m-1": doc})
    shown = orjson.loads(x.text)
    assert shown["tls_handshakes"][0]["failure"] == "connection_reset"
    assert shown["tls_handshakes"][0]["server_name"] == "www.example.com"


def test_an_excerpt_cuts_a_long_body_and_says_how_much_it_left_out() -> None:
    body = "<html>" + "x" * 5000 + "</html>"
    doc = {"test_keys": {"requests": [{"response": {"code": 200, "body": body}}]}}
    verdict = {"measurement_id": "m", "outcome": "blocked", "method": "http.blockpage",
               "confirmed": True, "fingerprint": "fp-1"}  # fmt: skip
    (x,) = provenance.excerpts([verdict], {"m": doc})
    assert f"({len(body) - provenance.EXCERPT_STRING_MAX} more chars)" in x.text
    # The longest run a line cannot break in fits a printed page (~130 characters).
    assert x.fingerprint == "fp-1" and max(map(len, x.text.split())) < 110


def test_an_ooni_measurement_row_carries_its_report_id(tmp_path: Path) -> None:
    _sourced_store(tmp_path / "s.duckdb")
    scope = report.Filter(country="PK", domain="x.com")
    html = write_report(tmp_path / "s.duckdb", tmp_path / "r.html", scope=scope).read_text()
    row = re.search(r"<tr><td><span class=\"mono\"><a href=[^>]*>[^<]*</a>.*?</tr>", html)
    assert row and "report 20240220T000000Z_webconnectivity_PK_17557_n1_AbCdEf0123456789" in row[0]
