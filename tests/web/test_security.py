"""Measured data is untrusted, filters are hostile, and the server never writes the store."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
from webstore import FORMULA, HOSTILE_BODY, HOSTILE_EVIDENCE

from blockwatch.errors import StoreError
from blockwatch.store import Store

SQL_NASTIES = (
    "PK' OR '1'='1",
    "PK'; DROP TABLE verdicts; --",
    '" OR 1=1 --',
    "%",
    "_",
    "PK\\",
    "x.com'/*",
    "1) UNION SELECT * FROM measurements --",
)


def test_a_blockpage_body_holding_script_and_html_is_escaped_in_the_page(
    http: httpx.Client,
) -> None:
    html = http.get("/measurement/m-hostile").text
    assert HOSTILE_BODY not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert HOSTILE_EVIDENCE not in html
    assert "&lt;img src=x onerror=" in html


def test_pages_forbid_scripts_with_a_content_security_policy(http: httpx.Client) -> None:
    csp = http.get("/measurement/m-hostile").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp


@pytest.mark.parametrize("nasty", SQL_NASTIES)
def test_sql_metacharacters_in_filters_give_empty_results_never_a_query_error(
    http: httpx.Client, nasty: str
) -> None:
    r = http.get("/api/verdicts.csv", params={"cc": nasty, "domain": nasty, "asn": nasty})
    assert r.status_code == 200 and r.text.strip().count("\n") == 0  # the header only
    r = http.get("/api/events", params={"cc": nasty, "kind": nasty})
    assert r.status_code == 200 and r.json() == {"events": []}
    assert http.get("/api/verdicts", params={"outcome": nasty}).json()["verdicts"] == []
    for path in (
        f"/country/{nasty}",
        f"/api/countries/PK/domains/{nasty}",
        f"/network/{nasty}",
        f"/event/{nasty}",
        f"/api/measurements/{nasty}",
    ):
        assert http.get(path).status_code == 404, path


@pytest.mark.parametrize(
    "bad", ("'; DROP TABLE verdicts; --", "2024-13-45", "yesterday", "1' OR 1")
)
def test_a_bad_date_filter_is_a_clean_400(http: httpx.Client, bad: str) -> None:
    r = http.get("/api/overview", params={"from": bad})
    assert r.status_code == 400
    assert r.json()["error"] == "bad filter"
    page = http.get("/", params={"to": bad})
    assert page.status_code == 400 and "bad filter" in page.text


def test_a_bad_bucket_is_a_clean_400(http: httpx.Client) -> None:
    r = http.get("/api/countries/PK/domains/x.com", params={"bucket": "1 DAY); DROP"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "path",
    (
        "/event/no-such-event",
        "/api/events/no-such-event",
        "/measurement/no-such",
        "/api/measurements/no-such",
        "/country/ZZ",
        "/api/countries/ZZ",
        "/network/AS0",
        "/country/PK/domain/no.such",
        "/event/no-such-event/report.html",
    ),
)
def test_unknown_ids_give_404(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 404


def test_the_server_holds_no_write_connection_to_the_store(server: str, store_path: Path) -> None:
    # Another process can open the file read-only while the server runs: the server holds a
    # shared (read-only) lock, never the writer's exclusive one.
    probe = (
        "import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True);"
        " print(c.execute('select count(*) from verdicts').fetchone()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(store_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0
    assert httpx.get(server + "/api/overview").status_code == 200


def test_the_read_path_refuses_to_write(store_path: Path) -> None:
    with Store(store_path, read_only=True) as store:  # what the dashboard reads through
        with pytest.raises(duckdb.Error):
            store.cursor().execute("DELETE FROM verdicts")
        with pytest.raises(duckdb.Error):
            store.cursor().execute("CREATE TABLE x (a INT)")
        with pytest.raises(StoreError):
            store.transaction()


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted(http: httpx.Client) -> None:
    rows = list(csv.DictReader(io.StringIO(http.get("/api/verdicts.csv?cc=XF").text)))
    assert [r["domain"] for r in rows] == ["'" + FORMULA]
    assert rows[0]["input"] == "'" + FORMULA
