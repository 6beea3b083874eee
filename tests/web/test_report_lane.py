"""Evidence reports are built once per state of the store (web.heavy.HeavyLane)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from blockwatch.web.heavy import HeavyLane


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
