"""The dashboard's pages and API against a real `blockwatch serve` over a real store."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
from webstore import serving

from blockwatch.store import Store


def test_overview_lists_the_country_and_the_ongoing_or_recent_events(http: httpx.Client) -> None:
    r = http.get("/")
    assert r.status_code == 200
    assert 'href="/country/PK"' in r.text
    assert "ev-x-PK" in r.text
    assert "outage (not censorship)" in r.text


def test_country_page_shows_its_networks_domains_and_events(http: httpx.Client) -> None:
    r = http.get("/country/PK")
    assert r.status_code == 200
    for text in ("AS17557", "AS9541", "AS135407", "x.com", "twitter.com", "ev-x-PK"):
        assert text in r.text


def test_domain_page_draws_one_timeline_per_network_with_the_event_shaded(
    http: httpx.Client,
) -> None:
    r = http.get("/country/PK/domain/x.com")
    assert r.status_code == 200
    assert sorted(re.findall(r'<svg class="timeline" data-network="([^"]+)"', r.text)) == [
        "AS135407",
        "AS17557",
        "AS9541",
    ]
    # Each chart is drawn twice, for wide screens and for phones (CSS shows one of them).
    wide = re.findall(r'<svg class="timeline" .*?</svg>', r.text, re.S)
    narrow = re.findall(r'<svg class="timeline-narrow" .*?</svg>', r.text, re.S)
    assert len(wide) == len(narrow) == 3
    for drawn in (wide, narrow):
        assert sum(svg.count('class="shade-event"') for svg in drawn) == 2
        assert sum(svg.count('class="shade-outage"') for svg in drawn) == 1
    assert "2024-02-17 → 2024-03-05" in r.text


def test_date_filter_narrows_the_timeline_and_counts(http: httpx.Client) -> None:
    full = http.get("/api/countries/PK/domains/x.com").json()
    narrow = http.get("/api/countries/PK/domains/x.com?from=2024-02-20&to=2024-02-21").json()
    assert narrow["timeline"]["bucket"] == "1h"
    starts = [b["start"] for s in narrow["timeline"]["series"] for b in s["buckets"]]
    assert starts and min(starts) >= "2024-02-20" and max(starts) < "2024-02-22"
    n_full = sum(b["n"] for s in full["timeline"]["series"] for b in s["buckets"])
    n_narrow = sum(b["n"] for s in narrow["timeline"]["series"] for b in s["buckets"])
    assert n_narrow == 2 * 4 * 3  # two days, four rounds a day, three networks
    assert n_full > n_narrow


def test_event_api_gives_networks_dates_methods_availability_and_paged_measurements(
    http: httpx.Client,
) -> None:
    data = http.get("/api/events/ev-x-PK").json()
    ev = data["event"]
    assert ev["start"] == "2024-02-17T00:00:00Z" and ev["end"] == "2024-03-05T00:00:00Z"
    assert sorted(n["probe_asn"] for n in data["networks"]) == ["AS17557", "AS9541"]
    assert sorted(ev["methods"]) == ["dns.nxdomain", "tls.reset"]
    assert ev["availability"] == 0.2
    assert len(data["measurements"]) == 100 and data["pages"] == 2
    page2 = http.get("/api/events/ev-x-PK?page=2").json()["measurements"]
    assert len(page2) == ev["n_measurements"] - 100


def test_outage_event_is_shown_as_an_outage_not_censorship(http: httpx.Client) -> None:
    r = http.get("/event/ev-outage-135407")
    assert r.status_code == 200
    assert "Outage (not censorship)" in r.text
    assert "Censorship event" not in r.text


def test_measurement_api_has_observations_our_verdict_and_oonis(http: httpx.Client) -> None:
    data = http.get("/api/measurements/m-AS9541-x.com-41").json()
    assert data["verdict"]["outcome"] == "blocked"
    assert data["verdict"]["method"] == "dns.nxdomain"
    assert data["ooni_blocking"] == "tcp_ip"
    obs = data["observations"]
    assert obs["queries"][0]["answers"] == ["104.244.42.1"]
    assert obs["tcp_connect"][0]["port"] == 443
    assert obs["requests"][0]["status"] == 200
    assert obs["control"]["http_request"]["status_code"] == 200


def test_network_page_lists_its_domains_and_events(http: httpx.Client) -> None:
    data = http.get("/api/networks/AS135407").json()
    assert {d["domain"] for d in data["domains"]} == {"x.com", "twitter.com", "example.org"}
    assert [e["event_id"] for e in data["events"]] == ["ev-outage-135407"]
    [series] = data["timeline"]["series"]
    assert series["network"] == "AS135407"
    assert [e["event_id"] for e in series["events"]] == ["ev-outage-135407"]
    page = http.get("/network/AS135407")
    wide = re.findall(r'<svg class="timeline" .*?</svg>', page.text, re.S)  # phones get a copy
    assert page.status_code == 200 and "".join(wide).count('class="shade-outage"') == 1


def test_the_filter_words_match_the_cli_and_the_older_spellings_still_work(
    http: httpx.Client,
) -> None:
    new = {"country": "pk", "asn": "17557", "since": "2024-02-20", "until": "2024-02-22"}
    old = {"cc": "PK", "asn": "AS17557", "from": "2024-02-20", "to": "2024-02-21"}
    for route in ("/api/verdicts.csv", "/api/events.csv"):
        assert http.get(route, params=new).text == http.get(route, params=old).text
    rows = http.get("/api/verdicts", params=new).json()["verdicts"]
    assert rows and all(r["measured_at"][:10] in ("2024-02-20", "2024-02-21") for r in rows)
    page = http.get("/country/PK", params={"from": "2024-02-20", "to": "2024-02-21"}).text
    assert 'name="since" value="2024-02-20"' in page and 'name="until" value="2024-02-22"' in page
    assert "?since=2024-02-20&amp;until=2024-02-22" in page  # links carry the range on
    # A path names its country, network and domain as the filter matches them.
    assert http.get("/api/countries/pk").json() == http.get("/api/countries/PK").json()
    assert http.get("/api/networks/17557").json()["probe_asn"] == "AS17557"
    lower = http.get("/api/countries/pk/domains/X.COM").json()
    assert lower == http.get("/api/countries/PK/domains/x.com").json() and lower["events"]
    bad = http.get("/api/verdicts", params={"since": "2024-03-01", "until": "2024-02-01"})
    assert bad.status_code == 400 and "until" in bad.json()["detail"]


def test_verdicts_csv_has_the_documented_columns_and_honours_every_filter(
    http: httpx.Client,
) -> None:
    r = http.get(
        "/api/verdicts.csv",
        params={
            "cc": "PK",
            "asn": "AS17557",
            "domain": "x.com",
            "outcome": "blocked",
            "from": "2024-02-20",
            "to": "2024-02-21",
        },
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == [
        "measurement_id",
        "measured_at",
        "probe_cc",
        "probe_asn",
        "input",
        "domain",
        "outcome",
        "method",
        "confidence",
        "confirmed",
    ]
    assert rows and all(r["outcome"] == "blocked" and r["probe_asn"] == "AS17557" for r in rows)
    assert all("2024-02-20" <= r["measured_at"] < "2024-02-22" for r in rows)


def test_events_csv_lists_events_with_their_measurement_ids(http: httpx.Client) -> None:
    rows = list(csv.DictReader(io.StringIO(http.get("/api/events.csv?kind=outage").text)))
    assert [r["event_id"] for r in rows] == ["ev-outage-135407"]
    assert rows[0]["end"] == "2024-03-01T18:00:00Z"
    assert len(rows[0]["measurements"].split()) == 3 * 3


def test_openapi_schema_describes_every_api_route(http: httpx.Client) -> None:
    schema = http.get("/api/openapi.json").json()
    for path in (
        "/api/overview",
        "/api/countries/{cc}",
        "/api/countries/{cc}/domains/{domain}",
        "/api/networks/{asn}",
        "/api/events/{event_id}",
        "/api/measurements/{measurement_id}",
        "/api/verdicts.csv",
        "/api/events.csv",
    ):
        assert path in schema["paths"], path


def test_pages_load_nothing_from_outside_and_carry_no_script(http: httpx.Client) -> None:
    for url in (
        "/",
        "/country/PK",
        "/country/PK/domain/x.com",
        "/event/ev-x-PK",
        "/measurement/m-hostile",
        "/network/AS17557",
    ):
        html = http.get(url).text
        assert "<script" not in html, url
        assert not re.search(r'(src|href)="(https?:)?//', html), url
    css = http.get("/static/style.css")
    assert css.status_code == 200 and "url(" not in css.text


def test_an_empty_store_serves_an_overview_saying_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    Store(db).close()
    with serving(db) as base:
        r = httpx.get(base + "/")
        assert r.status_code == 200 and "holds no verdicts yet" in r.text
        assert httpx.get(base + "/api/overview").json()["countries"] == []
        assert httpx.get(base + "/country/PK").status_code == 404


def test_serving_a_file_that_is_not_a_store_is_a_clean_error(tmp_path: Path) -> None:
    db = tmp_path / "other.duckdb"
    duckdb.connect(str(db)).close()
    res = subprocess.run(
        [sys.executable, "-m", "blockwatch", "serve", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "not a blockwatch store" in res.stderr


def test_a_csv_export_asked_again_is_the_same_file_served_whole(http: httpx.Client) -> None:
    url = "/api/verdicts.csv?country=PK"
    first, second = http.get(url), http.get(url)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content and first.content.count(b"\n") > 1
    assert "content-length" not in first.headers  # streamed as it was read
    assert second.headers["content-length"] == str(len(first.content))  # kept whole
    for name in ("content-type", "content-disposition", "content-security-policy"):
        assert second.headers[name] == first.headers[name]
