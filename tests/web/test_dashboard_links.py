"""Every link the dashboard shows leads somewhere, and the fixes a reader can see without a
browser: the favicon, a country in lower case, events of a range without data, charts that
end with the data, measured values in JSON's spelling, and a network's outage titled as one."""

from __future__ import annotations

import re
from collections import deque
from html import unescape
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

LINK = re.compile(r'(?:href|action)="([^"]*)"')
MAX_URLS = 3000
# Reports are documents of their own (checked by the report tests): their links are not
# followed, and generating a PDF for every event would only slow the crawl.
LEAVES = re.compile(r"/report\.(html|pdf)$")


def _internal(base: str, page: str, href: str) -> str | None:
    url = urljoin(page, unescape(href))
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != base:
        return None  # another site (OONI Explorer, ...): never requested
    return parts._replace(fragment="").geturl()


def test_every_internal_link_from_the_overview_answers_200(crowded_server: str) -> None:
    base = crowded_server
    seen = {base + "/", base + "/favicon.ico"}
    todo = deque(sorted(seen))
    broken = []
    with httpx.Client(timeout=60) as client:
        while todo:
            url = todo.popleft()
            if LEAVES.search(urlsplit(url).path) and url.endswith(".pdf"):
                continue
            r = client.get(url)
            if r.status_code != 200:
                broken.append((url, r.status_code))
                continue
            if "text/html" not in r.headers.get("content-type", "") or LEAVES.search(
                urlsplit(url).path
            ):
                continue
            for href in LINK.findall(r.text):
                link = _internal(base, url, href)
                if link is not None and link not in seen:
                    assert len(seen) < MAX_URLS, "the crawl found more links than it allows"
                    seen.add(link)
                    todo.append(link)
    assert broken == []
    assert len(seen) > 200  # it went through events, measurements, networks and domains
    assert any("/measurement/" in u for u in seen) and any("/network/" in u for u in seen)


def test_the_favicon_and_a_lower_case_country_are_served(http: httpx.Client) -> None:
    icon = http.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    assert 'rel="icon"' in http.get("/").text
    page = http.get("/country/pk")
    assert page.status_code == 200 and "Country PK" in page.text


def test_a_range_without_measurements_lists_no_ongoing_event(crowded_server: str) -> None:
    everything = httpx.get(crowded_server + "/").text
    assert "ev-ongoing" in everything  # ongoing as of the last measurement
    for query in ("?since=2024-04-01&until=2024-05-01", "?since=2030-01-01"):
        page = httpx.get(crowded_server + "/" + query).text
        assert "ev-ongoing" not in page and "No ongoing events." in page, query
        country = httpx.get(crowded_server + "/country/PK" + query).text
        assert "ev-ongoing" not in country, query


@pytest.mark.parametrize(
    "route",
    ["/api/events/ev-ongoing", "/api/countries/PK/domains/twitter.com?until=2024-06-01"],
)
def test_a_chart_ends_with_the_last_measurement(crowded_server: str, route: str) -> None:
    # The last measurement is at 2024-03-10 18:00; the event's margin, or the range asked
    # for, reach further.
    tl = httpx.get(crowded_server + route).json()["timeline"]
    assert tl["end"] <= "2024-03-11T00:00:00Z", tl["end"]
    last = max(b["start"] for s in tl["series"] for b in s["buckets"])
    assert last.startswith("2024-03-10T18") or last.startswith("2024-03-10"), last


def test_a_chart_drawn_for_an_ongoing_event_shades_no_further_than_the_data(
    crowded_server: str,
) -> None:
    html = httpx.get(crowded_server + "/event/ev-ongoing").text
    chart = re.search(r'<svg class="timeline" data-network="AS17557".*?</svg>', html, re.S)
    assert chart is not None
    plot = re.search(
        r'<rect x="([\d.]+)" y="\d+" width="([\d.]+)" height="[\d.]+" class="plot"/>', chart[0]
    )
    shade = re.search(
        r'data-event="ev-ongoing"[^>]*><rect x="([\d.]+)" y="\d+" width="([\d.]+)"', chart[0]
    )
    assert plot and shade
    assert float(shade[1]) + float(shade[2]) <= float(plot[1]) + float(plot[2]) + 0.1


def test_measurement_pages_show_no_python_spelling(http: httpx.Client) -> None:
    page = http.get("/measurement/m-AS17557-x.com-40").text
    cells = re.findall(r"<(?:td|dd)[^>]*>([^<]*)</(?:td|dd)>", page)
    assert cells
    for word in ("None", "True", "False"):
        assert word not in cells, (word, [c for c in cells if word in c])
    assert ">yes<" in page or ">no<" in page  # TCP connect success, in words


def test_an_outage_of_one_network_is_titled_as_that_network(http: httpx.Client) -> None:
    h1 = re.search(r"<h1>(.*?)</h1>", http.get("/event/ev-outage-135407").text, re.S)
    assert h1 is not None
    assert "network AS135407 in PK" in h1[1] and "all domains" not in h1[1]
    h1 = re.search(r"<h1>(.*?)</h1>", http.get("/event/ev-x-AS17557").text, re.S)
    assert h1 is not None and "x.com on AS17557 in PK" in h1[1]


def test_the_evidence_button_opens_the_report_and_a_link_saves_it(http: httpx.Client) -> None:
    page = http.get("/event/ev-x-PK").text
    assert 'href="/event/ev-x-PK/report.html"' in page
    shown = http.get("/event/ev-x-PK/report.html")
    assert shown.status_code == 200 and shown.headers["content-disposition"].startswith("inline")
    saved = http.get("/event/ev-x-PK/report.html?download=1")
    assert saved.headers["content-disposition"].startswith("attachment")
