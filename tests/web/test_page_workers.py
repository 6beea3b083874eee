"""Pages and API answers built in worker processes (web.workers): the same answers as the
serving process gives, and a worker that dies is replaced."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psutil
from webstore import HOSTILE_ID, serving

from blockwatch.web.workers import default_page_workers

URLS = (
    "/",
    "/?q=X+in+PK",
    "/country/PK",
    "/country/PK/domain/x.com",
    "/country/PK/domain/x.com?since=2024-02-12T05:00:00Z",
    "/network/AS17557",
    "/event/ev-x-PK",
    "/event/ev-x-AS9541?page=2",
    f"/measurement/{HOSTILE_ID}",
    "/api/overview",
    "/api/services?q=X",
    "/api/countries/PK",
    "/api/countries/PK/domains/x.com?bucket=6h",
    "/api/networks/AS9541",
    "/api/events?country=PK",
    "/api/events/ev-x-PK",
    f"/api/measurements/{HOSTILE_ID}",
    "/api/verdicts?country=PK&outcome=blocked&page=2",
    "/event/no-such-event",  # 404 page
    "/api/events/no-such-event",  # 404 JSON
    "/api/verdicts?since=yesterday",  # 400
    "/country/PK?until=9999-12-31",
)
SAME_HEADERS = ("content-type", "content-security-policy", "x-content-type-options")


def _answers(base: str) -> dict[str, tuple[int, bytes, tuple[str | None, ...]]]:
    with httpx.Client(base_url=base, timeout=60) as client:
        out = {}
        for url in URLS:
            r = client.get(url)
            out[url] = (r.status_code, r.content, tuple(r.headers.get(h) for h in SAME_HEADERS))
        head = client.head("/country/PK")
        assert head.status_code == 200 and head.content == b""
    return out


def _page_workers(base_pid: int, report_workers: int = 2) -> list[psutil.Process]:
    """The server's page workers: spawned children at normal priority, once its report
    workers have started and lowered theirs to nice 19 (multiprocessing's resource tracker
    is no worker)."""
    deadline = time.monotonic() + 30
    while True:
        spawned = [
            p for p in psutil.Process(base_pid).children() if "spawn_main" in " ".join(p.cmdline())
        ]
        niced = [p for p in spawned if p.nice() == 19]
        if len(niced) == report_workers or time.monotonic() > deadline:
            return [p for p in spawned if p.nice() == 0]
        time.sleep(0.1)


def _server_pid(base: str) -> int:
    port = int(base.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            assert conn.pid is not None
            return conn.pid
    raise AssertionError(f"no server listens on {base}")


def test_workers_answer_every_route_as_the_serving_process_does(store_path: Path) -> None:
    with serving(store_path, "--page-workers", "0") as here:
        expected = _answers(here)
    with serving(store_path, "--page-workers", "2") as base:
        workers = _page_workers(_server_pid(base))
        assert len(workers) == 2
        before = sum(p.cpu_times().user for p in workers)
        got = _answers(base)
        assert sum(p.cpu_times().user for p in workers) > before  # they built the answers
    assert {u: a[0] for u, a in got.items()} == {u: a[0] for u, a in expected.items()}
    for url in URLS:
        assert got[url] == expected[url], url


def test_a_worker_that_dies_is_replaced(store_path: Path) -> None:
    with serving(store_path, "--page-workers", "1") as base:
        pid = _server_pid(base)
        with httpx.Client(base_url=base, timeout=60) as client:
            assert client.get("/country/PK").status_code == 200
            (worker,) = _page_workers(pid)
            os.kill(worker.pid, signal.SIGKILL)
            # Dead (a zombie until the server reaps it, on the next request it would get).
            deadline = time.monotonic() + 10
            while worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            # Not kept by the answer cache: built again, by a new worker.
            r = client.get("/country/PK/domain/twitter.com")
            assert r.status_code == 200 and "twitter.com" in r.text
            (new,) = _page_workers(pid)
            assert new.pid != worker.pid


def test_the_default_leaves_two_cores_to_the_server() -> None:
    assert [default_page_workers(n) for n in (1, 2, 3, 4, 8, 64)] == [0, 0, 1, 2, 4, 4]
