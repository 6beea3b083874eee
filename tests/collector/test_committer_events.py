"""The committer's events refresh, on a real store: detected beside the commits on a
snapshot, coalesced, and the same events a full recompute of the country finds."""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from blockwatch.analysis.events import detect_events
from blockwatch.collector import REFRESH_SHARE, Committer
from blockwatch.store import Filter, Store

sys.path.insert(0, str(Path(__file__).parents[1] / "analysis"))
import wcsynth  # a sibling folder's builder of web_connectivity documents

START = datetime(2024, 2, 1, tzinfo=UTC)


def _round(n: int, blocked: bool) -> list[dict[str, Any]]:
    docs = []
    for i, url in enumerate(["https://a.blocked.lab/", "https://open.lab/"]):
        doc = wcsynth.measurement(
            url, tls_failure="connection_reset" if blocked and i == 0 else None
        )
        doc["measurement_start_time"] = (START + timedelta(hours=6 * n)).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        doc["measurement_uid"] = f"20240201000000.000000_PK_webconnectivity_{n:08x}{i:08x}"
        docs.append(doc)
    return docs


def test_coalesced_refreshes_store_the_events_a_full_recompute_finds(db: Path) -> None:
    seen: list[int] = []

    async def scenario(store: Store) -> Committer:
        committer = Committer(
            store, events_every=3600, on_events=lambda events, *_: seen.append(len(events))
        )
        await committer.start()
        try:
            # The first fresh data is refreshed for at once; the rounds after it come while no
            # refresh is allowed (the interval is an hour): their country waits, dirty, and
            # one refresh takes them all.
            for n in range(16):
                docs = _round(n, blocked=4 <= n < 12)
                await asyncio.gather(*(committer.submit(d) for d in docs))
            assert committer.stats.refreshes <= 1 and set(committer.stats.dirty) == {"PK"}
            await committer.refresh_now()
            assert committer.stats.refreshes <= 2 and not committer.stats.dirty
        finally:
            await committer.stop()
        return committer

    with Store(db) as store:
        committer = asyncio.run(scenario(store))
        stored = store.events(Filter(country="PK"))
        again = detect_events(store.verdicts(Filter(country="PK")))
    assert seen[-1] == len(again)
    assert any(e.kind == "censorship" for e in stored)
    key = lambda e: (e.event_id, e.start, e.end)  # noqa: E731
    assert sorted(map(key, stored)) == sorted(map(key, again))
    assert committer.refresh_interval() >= REFRESH_SHARE * committer._refresh_seconds


def test_stop_returns_when_the_last_commit_woke_the_events_loop(db: Path) -> None:
    # The last commit sets the events loop's wake-up as stop() cancels it: Python 3.11's
    # wait_for then loses the cancel, and stop() used to wait for that loop forever.
    async def scenario(store: Store) -> None:
        committer = Committer(store, events_every=3600)
        await committer.start()
        await asyncio.gather(*(committer.submit(d) for d in _round(0, blocked=False)))
        await committer.stop()  # awaited as the server does: no task around it

    with Store(db) as store:
        # On a thread of its own, so a stop that never returns fails here instead of hanging.
        worker = threading.Thread(target=asyncio.run, args=(scenario(store),), daemon=True)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "Committer.stop() did not return"
        assert store.verdicts(Filter(country="PK"))
