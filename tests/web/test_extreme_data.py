"""Whatever a store holds and whatever a reader asks, no page, route or report fails.

The stores here are filled through the store's own writes and plain SQL, around ingest's
checks on purpose: an old store, or one written by another tool, may hold any of this.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
import orjson
import pytest
from webstore import BLOCK_START, fill_store, serving

from blockwatch.analysis.records import Event, Verdict
from blockwatch.store import Filter, Store, schema
from blockwatch.store.rawcodec import BlockBuilder
from blockwatch.web import documents
from storehelpers import Cli

FAR = datetime(9999, 12, 31, 12, tzinfo=UTC)
ONGOING_ID = "ev-ongoing-x"
FAR_EVENT_ID = "ev-until-9999"
DEEP_ID = "m-deep"
SLASH_ID = "m/with/slashes"
SLASH_EVENT_ID = "ev/with/slash"


def _verdict(mid: str, when: datetime, outcome: str = "blocked") -> Verdict:
    return Verdict(
        mid, when, "PK", "AS17557", "https://x.com/", "x.com", "web_connectivity", outcome
    )


def _event(event_id: str, start: datetime, end: datetime | None, ids: tuple[str, ...]) -> Event:
    return Event(
        event_id, "censorship", "PK", "AS17557", "x.com", start, end, ("tls.reset",), 0.1, 0.9,
        ids, (), None,
    )  # fmt: skip


def _deep_document(levels: int) -> bytes:
    """A measurement whose test_keys nest ``levels`` lists deep, as its JSON text."""
    doc = orjson.dumps({"measurement_uid": DEEP_ID, "test_name": "web_connectivity"})
    return doc[:-1] + b',"test_keys":{"deep":' + b"[" * levels + b"]" * levels + b"}}"


def add_hostile_rows(path: Path) -> None:
    """A measurement dated 9999-12-31, rows at DuckDB's +-infinity and past year 9999, an
    ongoing event and one ending in 9999, a 1,000-level document, and ids with slashes."""
    with Store(path) as store:
        store.add_verdicts([_verdict("m-far", FAR), _verdict(SLASH_ID, BLOCK_START, "ok")])
        events = [
            _event(ONGOING_ID, BLOCK_START, None, ("m-far",)),
            _event(FAR_EVENT_ID, BLOCK_START, FAR, ("m-far", SLASH_ID)),
            _event(SLASH_EVENT_ID, BLOCK_START, BLOCK_START, (SLASH_ID,)),
        ]
        store.replace_events(events, scope=Filter(country="none"))
        block = BlockBuilder()
        offset, length = block.add(_deep_document(1000))
        row = (DEEP_ID, "r", "web_connectivity", "https://x.com/", "x.com", "PK", "AS17557",
               BLOCK_START.replace(tzinfo=None), "fixture", 0, offset, length)  # fmt: skip
        deep = _verdict(DEEP_ID, BLOCK_START, "ok")
        store.write_batch([row], [schema.record_to_row(deep)], blocks=[block.finish()])
    con = duckdb.connect(str(path))
    try:
        for mid, when in (
            ("m-infinity", "infinity"),
            ("m-minus-infinity", "-infinity"),
            ("m-year-12000", "12000-01-01"),
        ):
            con.execute(
                "INSERT INTO verdicts (measurement_id, measured_at, probe_cc, probe_asn, input,"
                " domain, test_name, outcome, evidence) VALUES (?, CAST(? AS TIMESTAMP), 'PK',"
                " 'AS9541', 'https://x.com/', 'x.com', 'web_connectivity', 'ok', [])",
                [mid, when],
            )
    finally:
        con.close()


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "store.duckdb"
    fill_store(path)
    add_hostile_rows(path)
    return path


@pytest.fixture(scope="module")
def web(hostile_store: Path) -> Iterator[httpx.Client]:
    with serving(hostile_store) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def _event_ids(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT event_id FROM events ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_every_event_page_route_and_report_answers_despite_a_measurement_in_9999(
    web: httpx.Client, hostile_store: Path
) -> None:
    for event_id in _event_ids(hostile_store):
        seg = quote(event_id, safe="")
        for url in (f"/event/{seg}", f"/api/events/{seg}", f"/event/{seg}/report.html"):
            r = web.get(url)
            assert r.status_code == 200, (url, r.text[:300])


def test_the_report_command_writes_an_event_report_despite_a_measurement_in_9999(
    hostile_store: Path, tmp_path: Path
) -> None:
    for event_id in (ONGOING_ID, FAR_EVENT_ID, "ev-x-PK"):
        out = tmp_path / "r.html"
        res = Cli()("report", "--db", hostile_store, "--event", event_id, "--out", out)
        assert res.exit_code == 0, res.output
        assert out.is_file()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/country/PK",
        "/country/PK/domain/x.com",
        "/network/AS17557",
        "/network/AS9541",
        "/measurement/m-far",
        "/measurement/m-infinity",
        "/measurement/m-year-12000",
        "/api/overview",
        "/api/countries/PK/domains/x.com",
        "/api/networks/AS9541",
        "/api/measurements/m-year-12000",
        "/api/verdicts?country=PK",
        "/api/events",
        "/api/verdicts.csv?asn=AS9541",
        "/api/events.csv",
        "/report.html?country=PK&domain=x.com",
    ],
)
def test_pages_over_times_at_the_ends_of_the_calendar_answer(web: httpx.Client, path: str) -> None:
    r = web.get(path)
    assert r.status_code == 200, r.text[:300]


EXTREME_RANGES = [
    "to=9999-12-31",
    "until=9999-12-31",
    "until=9999-12-31T23:59:59.999999Z",
    "since=0001-01-01",
    "from=0001-01-01&to=9999-12-31",
    "since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z",
    "to=9999-12-31T23:59:59.999999",
]


@pytest.mark.parametrize("query", EXTREME_RANGES)
@pytest.mark.parametrize(
    "route",
    [
        "/",
        "/api/overview",
        "/api/events",
        "/api/verdicts",
        "/api/verdicts.csv",
        "/api/events.csv",
        "/country/PK",
        "/api/countries/PK/domains/x.com",
        "/network/AS17557",
        "/report.html?country=PK&domain=x.com",
    ],
)
def test_a_range_reaching_the_ends_of_the_calendar_is_served(
    web: httpx.Client, route: str, query: str
) -> None:
    sep = "&" if "?" in route else "?"
    r = web.get(f"{route}{sep}{query}")
    assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize(
    "query",
    [
        "since=0001-01-01T00:00:00%2B05:00",  # before year 1 in UTC
        "until=9999-12-31T23:00:00-05:00",  # after year 9999 in UTC
        "since=10000-01-01",
        "to=0000-12-31",
    ],
)
def test_a_time_no_calendar_can_hold_is_a_clean_400(web: httpx.Client, query: str) -> None:
    for route in ("/", "/api/events", "/api/countries/PK"):
        r = web.get(f"{route}?{query}")
        assert r.status_code == 400, (route, r.text[:300])


def test_a_measurement_nested_1000_levels_deep_is_shown_as_text(web: httpx.Client) -> None:
    page = web.get(f"/measurement/{DEEP_ID}")
    assert page.status_code == 200, page.text[:300]
    assert "Shown as text" in page.text and "[" * 1000 in page.text
    api = web.get(f"/api/measurements/{DEEP_ID}")
    assert api.status_code == 200, api.text[:300]
    data = api.json()
    assert data["raw"] is None
    assert data["raw_text"] == _deep_document(1000).decode()
    assert data["verdict"]["outcome"] == "ok"


@pytest.mark.parametrize("levels", [150, 300, 1000, 1500])
def test_documents_of_any_depth_read_without_recursion(levels: int) -> None:
    doc = documents.read(_deep_document(levels))
    assert doc.text is not None
    obs = documents.observations(doc.tree) if doc.tree else None
    assert obs is None or obs["control"] is None


def test_a_shallow_document_stays_a_tree() -> None:
    doc = documents.read(_deep_document(20))
    assert doc.text is None and doc.tree is not None


def test_observations_of_a_document_with_wrong_types_show_nothing_for_them() -> None:
    tk = {"requests": [5, {"request": "x", "response": []}], "queries": {"a": 1}, "control": 3}
    obs = documents.observations({"test_keys": tk})
    assert obs["queries"] == [] and obs["control"] == 3
    assert obs["requests"][0]["url"] is None and obs["requests"][0]["body"] is None


def test_ids_holding_slashes_open_from_their_links(web: httpx.Client) -> None:
    page = web.get(f"/measurement/{quote(SLASH_ID, safe='')}")
    assert page.status_code == 200 and SLASH_ID in page.text
    assert web.get(f"/api/measurements/{quote(SLASH_ID, safe='')}").json()["measurement_id"] == (
        SLASH_ID
    )
    assert web.get(f"/measurement/{SLASH_ID}").status_code == 200  # unescaped works too
    event = web.get(f"/event/{quote(SLASH_EVENT_ID, safe='')}")
    assert event.status_code == 200
    # The event page links its measurement and its report with "/" escaped, and both open.
    for href in re.findall(r'href="(/(?:measurement|event)/[^"]+)"', event.text):
        assert "%2F" in href
        assert web.get(href).status_code in (200, 202), href  # 202: the PDF is a job
    report = web.get(f"/event/{quote(SLASH_EVENT_ID, safe='')}/report.html")
    assert report.status_code == 200 and SLASH_ID in report.text
    api = web.get(f"/api/events/{quote(SLASH_EVENT_ID, safe='')}")
    assert api.json()["event"]["event_id"] == SLASH_EVENT_ID


@pytest.mark.parametrize(
    "path", ["/", "/country/PK", "/country/PK/domain/x.com", "/event/ev-x-PK", "/api/overview"]
)
def test_head_on_a_page_answers_200_without_a_body(web: httpx.Client, path: str) -> None:
    r = web.head(path)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"] == web.get(path).headers["content-type"]


@pytest.mark.parametrize(
    "query", ["cc=&domain=x.com", "country=&domain=x.com", "cc=PK&domain=", "cc=%20&domain=x.com"]
)
def test_a_scope_report_without_a_country_or_a_domain_is_a_400(
    web: httpx.Client, query: str
) -> None:
    for fmt in ("html", "pdf"):
        assert web.get(f"/report.{fmt}?{query}").status_code == 400
