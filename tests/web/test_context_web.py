"""Names, services and context on the dashboard and in the report, served for real.

The store is the web tests' store (webstore.py: X blocked on AS17557 and AS9541 in PK) with
the networks named, X's twitter.com still blocked at the end of the data, and annotations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import httpx
import pytest
from webstore import BLOCK_START, fill_store, serving

from blockwatch.analysis.records import Annotation, Event, NetworkSpan
from blockwatch.store import Store

X_DOMAINS = ("twitter.com", "x.com")
SENTENCE = (
    "X in PK: blocked on 2 of 3 networks (Cybernet and PTCL) since 2024-02-17, intermittently."
)
HOSTILE_TITLE = "<script>window.__pwned = 3</script>Order"


def _note(day: int, title: str, domains: tuple[str, ...] = ()) -> Annotation:
    when = datetime(2024, 2, day, tzinfo=UTC)
    return Annotation(f"a-{day}", when, None, "PK", domains, title, url="https://example.org/a")


def make_context_store(path: Path) -> Path:
    fill_store(path)
    with Store(path) as store:
        store.set_network_names({"AS17557": "PTCL", "AS9541": "Cybernet"})
        ongoing = Event(
            "ev-tw-PK",
            "censorship",
            "PK",
            None,
            "twitter.com",
            BLOCK_START,
            None,
            ("tls.reset",),
            0.2,
            0.9,
            (),
            (
                NetworkSpan("AS17557", BLOCK_START, None, 0.2),
                NetworkSpan("AS9541", BLOCK_START, None, 0.1),
            ),
        )
        store.replace_events([*store.events(), ongoing])
        store.add_annotations(
            [
                _note(8, "General elections"),
                _note(22, "Sindh High Court orders X restored", X_DOMAINS),
                _note(1, "Wikipedia blocked", ("wikipedia.org",)),
                _note(20, HOSTILE_TITLE, X_DOMAINS),
            ]
        )
    return path


@pytest.fixture(scope="module")
def context_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_context_store(tmp_path_factory.mktemp("contextstore") / "store.duckdb")


@pytest.fixture(scope="module")
def site(context_store: Path) -> Iterator[httpx.Client]:
    with serving(context_store) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def test_the_home_page_answers_each_blocked_service_in_one_sentence_with_network_names(
    site: httpx.Client,
) -> None:
    page = site.get("/").text
    assert 'name="q"' in page and 'role="search"' in page
    assert SENTENCE in page


def test_a_search_for_x_in_pk_gets_the_sentence_and_an_unknown_service_a_note(
    site: httpx.Client,
) -> None:
    assert SENTENCE in site.get("/", params={"q": "X in PK"}).text
    assert SENTENCE in site.get("/", params={"q": "twitter.com"}).text
    assert (
        "No censorship event of Telegram in PK"
        in site.get("/", params={"q": "Telegram in PK"}).text
    )
    assert "No service is named" in site.get("/", params={"q": "nosuchthing"}).text


def test_the_services_api_gives_the_same_answer_with_each_network_named(
    site: httpx.Client,
) -> None:
    body = site.get("/api/services", params={"q": "X in PK"}).json()
    [answer] = body["answers"]
    assert answer["sentence"] == SENTENCE and answer["ongoing"] is True
    assert answer["networks"] == [
        {"probe_asn": "AS17557", "name": "PTCL"},
        {"probe_asn": "AS9541", "name": "Cybernet"},
    ]


def test_the_event_page_names_each_network_and_shows_the_context(site: httpx.Client) -> None:
    page = site.get("/event/ev-x-PK").text
    assert "AS17557 (PTCL)" in page and "AS9541 (Cybernet)" in page
    assert "AS135407 (" not in page  # an unnamed network keeps its number alone
    assert "Sindh High Court orders X restored" in page and 'class="annotations"' in page


def test_the_x_timeline_marks_its_annotations_and_leaves_other_domains_out(
    site: httpx.Client,
) -> None:
    page = site.get("/country/PK/domain/x.com").text
    assert 'data-date="2024-02-22"' in page and "Sindh High Court" in page
    assert "General elections" in page  # a country-wide fact belongs on every timeline
    assert "Wikipedia blocked" not in page
    assert "<script>window.__pwned" not in page and "&lt;script&gt;" in page


def test_the_report_names_the_networks_and_lists_the_context_next_to_the_events(
    site: httpx.Client,
) -> None:
    report = site.get("/event/ev-x-PK/report.html").text
    assert "AS17557 (PTCL)" in report and "AS9541 (Cybernet)" in report
    assert "<h2>Context</h2>" in report
    assert (
        report.index("<h2>Events</h2>")
        < report.index("Sindh High Court")
        < report.index("<h2>Methodology</h2>")
    )
    assert "<script>window.__pwned" not in report


def test_a_services_file_given_by_the_environment_replaces_the_shipped_one(
    tmp_path: Path,
) -> None:
    store = make_context_store(tmp_path / "store.duckdb")
    services = tmp_path / "services.toml"
    services.write_text('[[service]]\nname = "Birdsite"\ndomains = ["x.com", "twitter.com"]\n')
    with (
        mock.patch.dict(os.environ, {"BLOCKWATCH_SERVICES": str(services)}),
        serving(store) as base,
    ):
        body = httpx.get(f"{base}/api/services", timeout=30).json()
    assert [a["service"] for a in body["answers"]] == ["Birdsite"]
