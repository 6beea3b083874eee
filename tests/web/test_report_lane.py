"""The lanes of worker processes: evidence reports built once per state of the store
(web.heavy.HeavyLane), and a dead or hung worker replaced (HeavyLane, web.workers.RenderLane)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from blockwatch.analysis.services import ServiceTable
from blockwatch.config import services_path
from blockwatch.web import workers
from blockwatch.web.heavy import Busy, HeavyLane
from blockwatch.web.workers import RenderLane, WorkerFailed


def test_a_report_is_built_once_per_store_state(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.duckdb"
    shutil.copy(store_path, path)
    builds: list[tuple[Any, ...]] = []
    real_run = HeavyLane._run

    async def counted(self: HeavyLane, what: str, fn: Any, *args: Any) -> Any:
        builds.append(args)
        return await real_run(self, what, fn, *args)

    monkeypatch.setattr(HeavyLane, "_run", counted)

    async def scenario() -> list[tuple[str, str]]:
        lane = HeavyLane(str(path), workers=1, queue=4, db_path=path)
        try:
            # Three readers at once share one build; a fourth later gets the kept one.
            together = await asyncio.gather(*(lane.report_html("ev-x-PK", None) for _ in range(3)))
            later = await lane.report_html("ev-x-PK", None)
            assert len(builds) == 1
            other = await lane.report_html("ev-x-AS9541", None)
            assert len(builds) == 2 and other[1] != later[1]
            # The store changed (its file's time moved): built again.
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
            again = await lane.report_html("ev-x-PK", None)
            assert len(builds) == 3
            return [*together, later, again]
        finally:
            lane.close()

    answers = asyncio.run(scenario())
    assert len({a[1] for a in answers[:4]}) == 1  # the very same document
    assert answers[0][0] == "event-ev-x-PK" and "ev-x-PK" in answers[-1][1]


def test_a_report_worker_that_dies_costs_one_busy_answer(store_path: Path) -> None:
    async def scenario() -> None:
        lane = HeavyLane(str(store_path), workers=1, queue=2)
        try:
            await lane.report_html("ev-x-PK", None)
            (worker,) = lane._pool._processes.values()  # type: ignore[attr-defined]
            os.kill(worker.pid, signal.SIGKILL)
            with pytest.raises(Busy):
                await lane.report_html("ev-x-AS9541", None)
            slug, html = await lane.report_html("ev-x-AS9541", None)  # a new pool
            assert slug == "event-ev-x-AS9541" and "ev-x-AS9541" in html
        finally:
            lane.close()

    asyncio.run(scenario())


def test_a_page_worker_that_hangs_is_refused_once_and_replaced(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/country/PK",
        "raw_path": b"/country/PK",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def scenario() -> None:
        lane = RenderLane(str(store_path), ServiceTable.load(services_path()), workers=1)
        try:
            assert (await lane.answer(scope))[0] == 200
            (hung,) = lane._all
            os.kill(hung.process.pid, signal.SIGSTOP)
            monkeypatch.setattr(workers, "RENDER_TIMEOUT_S", 1.0)
            with pytest.raises(WorkerFailed, match="no answer within"):
                await lane.answer(scope)
            assert not hung.process.is_alive()
            monkeypatch.setattr(workers, "RENDER_TIMEOUT_S", 60.0)
            status, _, body = await lane.answer(scope)  # a new worker
            assert status == 200 and b"PK" in body and lane._all[0] is not hung
        finally:
            lane.close()

    asyncio.run(scenario())
