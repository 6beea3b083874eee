"""A person's walk through the dashboard in headless Chromium (Debian's), driven by Playwright.

Overview → country → domain → event → measurement; the chart has one timeline per network and
shows the event's dates; the CSV and the evidence report download; a screenshot of each page
lands in test-output/web/.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"needs Debian's chromium at {CHROMIUM} (`make setup` installs it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright Python package (dev extra)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser: object, test_output: Path) -> Iterator[object]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    # Any request leaving loopback would be a page loading something from outside.
    outside: list[str] = []
    pg.on(
        "request", lambda r: None if r.url.startswith("http://127.0.0.1") else outside.append(r.url)
    )
    pg.outside = outside
    yield pg
    context.close()


def _shot(pg: object, out: Path, name: str) -> None:
    folder = out / "web"
    folder.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_click_through_from_overview_to_a_measurement_with_chart_csv_and_report(
    page: object, server: str, test_output: Path
) -> None:
    pg = page
    pg.goto(server + "/")
    assert pg.locator("h1").inner_text() == "Overview"
    _shot(pg, test_output, "1-overview")

    pg.click("a.country-link:text('PK')")
    pg.wait_for_url("**/country/PK")
    assert "Country PK" in pg.locator("h1").inner_text()
    _shot(pg, test_output, "2-country")

    pg.click("a.domain-link:text-is('x.com')")
    pg.wait_for_url("**/country/PK/domain/x.com")
    charts = pg.locator("svg.timeline")
    assert charts.count() == 3  # AS135407, AS17557, AS9541
    networks = sorted(charts.nth(i).get_attribute("data-network") for i in range(3))
    assert networks == ["AS135407", "AS17557", "AS9541"]
    labels = pg.locator("svg.timeline .shade-event .shade-label").all_text_contents()
    assert any("2024-02-17 → 2024-03-05" in t for t in labels), labels
    outage = pg.locator("svg.timeline[data-network='AS135407'] .shade-outage")
    assert outage.count() == 1
    _shot(pg, test_output, "3-domain")

    with pg.expect_download() as dl:
        pg.click("a.csv-link")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert rows and {r["domain"] for r in rows} == {"x.com"}
    assert {r["probe_cc"] for r in rows} == {"PK"}

    pg.click("a.event-link:text-is('ev-x-PK')")
    pg.wait_for_url("**/event/ev-x-PK")
    assert pg.locator("#event-start").inner_text().startswith("2024-02-17")
    assert pg.locator("#event-end").inner_text().startswith("2024-03-05")
    assert pg.locator("table.event-networks tbody tr").count() == 2
    # Every network measuring x.com is charted (the unblocked one is the comparison); the
    # event is shaded on the two it covers.
    assert pg.locator("svg.timeline").count() == 3
    shaded = pg.locator("svg.timeline:has(.shade-event)")
    assert sorted(shaded.nth(i).get_attribute("data-network") for i in range(2)) == [
        "AS17557",
        "AS9541",
    ]
    _shot(pg, test_output, "4-event")

    # The evidence button opens the report in the browser; a link next to it saves it.
    pg.click("a.report-link")
    pg.wait_for_url("**/event/ev-x-PK/report.html")
    assert "Evidence report" in pg.content() and pg.locator("#sha256").count() == 1
    pg.go_back()
    with pg.expect_download() as dl:
        pg.click("a.report-download-link")
    report = Path(dl.value.path()).read_text()
    assert "Evidence report" in report and 'id="sha256"' in report
    shutil.copy(dl.value.path(), test_output / "web" / "event-report.html")

    pg.click("a.measurement-link >> nth=0")
    pg.wait_for_url("**/measurement/**")
    assert pg.locator("#our-outcome").inner_text() == "blocked"
    assert pg.locator("#ooni-blocking").inner_text() == "tcp_ip"
    _shot(pg, test_output, "5-measurement")

    pg.click("dd >> a[href^='/network/']")
    pg.wait_for_url("**/network/AS*")
    assert pg.locator("svg.timeline").count() == 1
    _shot(pg, test_output, "6-network")
    assert pg.outside == []


def test_a_blockpage_script_in_a_measurement_is_shown_as_text_and_never_runs(
    page: object, server: str, test_output: Path
) -> None:
    pg = page
    pg.goto(server + "/measurement/m-hostile")
    body = pg.locator("pre.body").inner_text()
    assert "<script>window.__pwned = 1</script>" in body
    assert pg.evaluate("window.__pwned") is None
    assert pg.locator("#pwn").count() == 0  # the blockpage's <h1> was not made an element
    assert '<img src=x onerror="window.__pwned=2">' in pg.locator("ul.evidence").inner_text()
    _shot(pg, test_output, "7-hostile-measurement")


def test_the_evidence_report_renders_offline_with_its_charts(
    page: object, server: str, test_output: Path
) -> None:
    pg = page
    pg.goto(server + "/event/ev-x-PK")
    with pg.expect_download() as dl:
        pg.click("a.report-download-link")
    path = Path(dl.value.path())
    local = test_output / "web" / "report.html"
    shutil.copy(path, local)
    pg.goto(local.as_uri())
    assert pg.locator("svg.timeline").count() == 3
    assert len(pg.locator("#sha256").inner_text()) == 64
    _shot(pg, test_output, "8-report")
    assert [u for u in pg.outside if not u.startswith("file://")] == []


# --- on a phone, and charts whose text never collides ---------------------------------------

PHONE = {"width": 390, "height": 844}
PAGES = (
    "/",
    "/country/PK",
    "/country/PK/domain/x.com",
    "/country/PK/domain/twitter.com",
    "/event/ev-x-PK",
    "/event/ev-outage-135407",
    "/event/ev-crowd-1",
    "/event/ev-ongoing",
    "/network/AS17557",
    "/measurement/m-hostile",
)
CHART_PAGES = [p for p in PAGES if p.startswith(("/country/PK/domain", "/event", "/network"))]

# Every visible chart's text boxes as the browser laid them out: pairs that overlap, boxes
# outside their chart, the smallest text height, and how many charts and labels were seen.
CHART_TEXT_JS = """() => {
  const out = {overlaps: [], outside: [], minHeight: 1e9, charts: 0, labels: 0};
  for (const svg of document.querySelectorAll('svg.timeline, svg.timeline-narrow')) {
    const frame = svg.getBoundingClientRect();
    if (frame.width === 0) continue;  // the variant this screen does not show
    out.charts += 1;
    const texts = [...svg.querySelectorAll('text')]
      .map(t => [t.textContent, t.getBoundingClientRect()]);
    out.labels += svg.querySelectorAll('text.shade-label').length;
    texts.forEach(([text, r], i) => {
      out.minHeight = Math.min(out.minHeight, r.height);
      if (r.left < frame.left - 1 || r.right > frame.right + 1 || r.top < frame.top - 1 ||
          r.bottom > frame.bottom + 1) out.outside.push(text);
      for (const [other, q] of texts.slice(i + 1)) {
        const w = Math.min(r.right, q.right) - Math.max(r.left, q.left);
        const h = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
        if (w > 0.5 && h > 0.5) out.overlaps.push([text, other]);
      }
    });
  }
  return out;
}"""


@pytest.mark.parametrize("path", PAGES)
def test_no_page_scrolls_sideways_on_a_phone(
    browser: object, crowded_server: str, path: str
) -> None:
    context = browser.new_context(viewport=PHONE)
    pg = context.new_page()
    try:
        assert pg.goto(crowded_server + path).status == 200
        wide = pg.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{path} is {wide} px wide at {PHONE['width']} px"
    finally:
        context.close()


@pytest.mark.parametrize(
    "viewport", [PHONE, {"width": 1280, "height": 900}], ids=["phone", "desktop"]
)
def test_timeline_text_never_overlaps_and_stays_legible(
    browser: object, crowded_server: str, viewport: dict[str, int], test_output: Path
) -> None:
    context = browser.new_context(viewport=viewport)
    pg = context.new_page()
    try:
        for path in CHART_PAGES:
            pg.goto(crowded_server + path)
            seen = pg.evaluate(CHART_TEXT_JS)
            assert seen["charts"] > 0, path
            assert seen["overlaps"] == [], (path, seen["overlaps"])
            assert seen["outside"] == [], (path, seen["outside"])
            assert seen["minHeight"] >= 8, (path, seen["minHeight"])  # px, as drawn
            if path == "/country/PK/domain/twitter.com":
                _shot(pg, test_output, f"9-crowded-{viewport['width']}")
                assert seen["labels"] >= 3, seen  # crowded labels are placed, not all dropped
    finally:
        context.close()
