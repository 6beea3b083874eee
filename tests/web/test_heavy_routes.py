"""Heavy routes (reports, PDFs, CSV) run in a lane of their own and never stall the pages;
answers are kept per store state."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from webstore import serving

from blockwatch.store import Store
from blockwatch.web import report
from blockwatch.web.cache import ANSWER_HEADER, ResponseCache, cacheable
from blockwatch.web.heavy import Busy, CsvLane
from storehelpers import verdict

needs_chromium = pytest.mark.skipif(
    report.chromium_path() is None,
    reason="PDF needs Debian's chromium (`make setup` installs it as root)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll_pdf(client: httpx.Client, url: str, seconds: float = 120) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = client.get(url)
        if r.status_code != 202:
            return r
        time.sleep(0.5)
    raise AssertionError(f"{url}: no PDF within {seconds} s")


@pytest.mark.browser
@needs_chromium
def test_the_pdf_button_gives_a_page_that_refreshes_until_the_pdf_is_ready(
    http: httpx.Client,
) -> None:
    assert "report.pdf" in http.get("/event/ev-x-AS9541").text
    first = http.get("/event/ev-x-AS9541/report.pdf")
    assert first.status_code == 202
    assert '<meta http-equiv="refresh"' in first.text and "<script" not in first.text
    assert "Printing started" in first.text and first.headers["retry-after"]
    assert 'href="/event/ev-x-AS9541/report.html"' in first.text
    r = _poll_pdf(http, "/event/ev-x-AS9541/report.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert r.headers["content-disposition"].startswith("inline")  # the button opens it
    saved = http.get("/event/ev-x-AS9541/report.pdf?download=1")
    assert saved.status_code == 200 and saved.content == r.content
    assert saved.headers["content-disposition"].startswith("attachment")
    again = http.get("/event/ev-x-AS9541/report.pdf")  # kept: served at once
    assert again.status_code == 200 and again.content == r.content


@pytest.mark.browser
@needs_chromium
def test_a_scope_pdf_is_a_job_too(http: httpx.Client) -> None:
    r = _poll_pdf(http, "/report.pdf?country=PK&domain=x.com&since=2024-03-01")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")


def test_a_pdf_of_an_unknown_event_is_a_404_at_once(http: httpx.Client) -> None:
    assert http.get("/event/nope/report.pdf").status_code == 404


@pytest.fixture(scope="module")
def one_worker(store_path: Path) -> Iterator[httpx.Client]:
    args = ("--report-workers", "1", "--report-queue", "0")
    with serving(store_path, *args) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


@pytest.mark.browser
@needs_chromium
def test_a_report_over_the_cap_gets_503_while_pages_still_answer(
    one_worker: httpx.Client,
) -> None:
    assert one_worker.get("/event/ev-x-PK/report.pdf").status_code == 202  # takes the worker
    busy = one_worker.get("/event/ev-x-AS17557/report.html")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert "busy" in busy.text
    # The rest of the dashboard answers while the report is being printed.
    for path in ("/", "/country/PK", "/event/ev-x-PK", "/api/overview", "/api/verdicts.csv"):
        assert one_worker.get(path).status_code == 200, path
    assert one_worker.get("/event/ev-x-PK/report.pdf").status_code == 202  # still printing
    assert _poll_pdf(one_worker, "/event/ev-x-PK/report.pdf").status_code == 200
    assert one_worker.get("/event/ev-x-AS17557/report.html").status_code == 200


def test_the_html_report_is_built_in_a_worker_and_opens(http: httpx.Client) -> None:
    r = http.get("/event/ev-x-PK/report.html")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("inline")
    assert "Evidence report" in r.text
    assert http.get("/report.html?country=PK&domain=nope.example").status_code == 404


def test_csv_exports_past_their_cap_are_refused_as_busy() -> None:
    lane = CsvLane(streams=1)
    lane.admit()
    with pytest.raises(Busy):
        lane.admit()
    lane.release()
    lane.admit()


def test_a_csv_export_streams_through_its_lane_and_frees_its_place() -> None:
    lane = CsvLane(streams=1)

    async def export() -> list[str]:
        lane.admit()
        return [chunk async for chunk in lane.stream(iter(["a,b\n", "1,2\n"]))]

    assert asyncio.run(export()) == ["a,b\n", "1,2\n"]
    lane.admit()  # the place is free again


def test_reports_csv_and_static_files_are_never_cached() -> None:
    assert cacheable("/") and cacheable("/api/events/x") and cacheable("/event/x")
    for path in ("/event/x/report.html", "/report.pdf", "/api/verdicts.csv", "/static/style.css"):
        assert not cacheable(path)


class _CountingApp:
    """A real ASGI app answering each path with its own name, counting what it builds."""

    def __init__(self) -> None:
        self.built: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.built.append(scope["path"])
        await asyncio.sleep(0.01)
        status = 404 if scope["path"] == "/missing" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})


_HOW: list[bytes] = []  # the answer header of every _get, in order


async def _get(app: Any, path: str) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b""}
    await app(scope, receive, send)
    _HOW.extend(v for k, v in sent[0]["headers"] if k == ANSWER_HEADER)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_burst_on_a_cold_page_builds_it_once_and_a_store_change_drops_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.duckdb"
    db.write_bytes(b"v1")
    inner = _CountingApp()
    cache = ResponseCache(inner, db_path=db)

    async def burst(path: str, n: int) -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(_get(cache, path) for _ in range(n)))

    assert asyncio.run(burst("/country/PK", 20)) == [(200, b"/country/PK")] * 20
    assert inner.built == ["/country/PK"]
    assert _HOW[-1] == b"kept" and _HOW.count(b"built") == 1
    asyncio.run(burst("/missing", 2))
    asyncio.run(burst("/missing", 1))
    assert inner.built.count("/missing") == 3  # only whole 200 answers are kept
    db.write_bytes(b"v2, larger")  # the store changed: its answers are built anew
    assert asyncio.run(_get(cache, "/country/PK")) == (200, b"/country/PK")
    assert inner.built.count("/country/PK") == 2


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_report_workers_end_with_the_server_however_it_ends(
    store_path: Path, stop: signal.Signals
) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "blockwatch",
            "serve",
            "--db",
            str(store_path),
            "--port",
            str(port),
            "--read-only",
        ],  # report workers are processes over a store served read-only
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/event/ev-x-PK/report.html", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not answer"
            time.sleep(0.3)
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len(workers) >= 2  # the report workers (and their tracker)
        proc.send_signal(stop)
        proc.wait(timeout=30)
        _gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_at_most_the_builders_build_answers_at_once(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    db.write_bytes(b"v1")
    inner = _CountingApp()
    running = peak = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await inner(scope, receive, send)
        finally:
            running -= 1

    cache = ResponseCache(app, db_path=db, builders=2)

    async def burst() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(_get(cache, f"/country/C{i}") for i in range(10)))

    assert [status for status, _ in asyncio.run(burst())] == [200] * 10
    assert peak == 2 and len(inner.built) == 10


def test_a_small_csv_export_is_kept_until_the_store_changes(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        lane = CsvLane(streams=1, db_path=store.path)

        async def export(key: str, chunks: list[str], stop_after: int | None = None) -> bytes:
            state, kept = lane.kept(key)
            if kept is not None:
                return kept
            lane.admit()
            got = []
            stream = lane.stream(iter(chunks), (key, state))
            async for chunk in stream:
                got.append(chunk)
                if stop_after is not None and len(got) == stop_after:
                    await stream.aclose()  # the reader went away
                    break
            return "".join(got).encode()

        assert asyncio.run(export("k", ["a,b\n", "1,2\n"])) == b"a,b\n1,2\n"
        assert lane.kept("k")[1] == b"a,b\n1,2\n"
        assert asyncio.run(export("k", ["other\n"])) == b"a,b\n1,2\n"  # kept, not built
        lane.admit()  # every place was given back
        lane.release()
        asyncio.run(export("cut", ["a,b\n", "1,2\n"], stop_after=1))
        assert lane.kept("cut")[1] is None  # an export not sent whole is not kept
        big = ["x" * 1024 * 1024 + "\n"] * 5  # over KEEP_CSV_BYTES / 8
        asyncio.run(export("big", big))
        assert lane.kept("big")[1] is None
        store.add_verdicts([verdict(1, outcome="ok")])
        assert lane.kept("k")[1] is None
