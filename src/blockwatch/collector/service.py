"""The collector: OONI's protocol (bk-003) over the store's one writer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from blockwatch.collector.committer import Committer, EventsListener
from blockwatch.collector.limits import Limits, RateLimiter
from blockwatch.collector.protocol import (
    BACKEND_VERSION,
    OpenReport,
    check_open,
    check_update,
    measurement_uid,
)
from blockwatch.collector.reports import ReportBook
from blockwatch.errors import SubmissionError
from blockwatch.pipeline import Fingerprints
from blockwatch.store import Store

__all__ = ["Collector"]

T = TypeVar("T")


class Collector:
    """Open reports, take measurements (acknowledged after their COMMIT), close reports."""

    def __init__(
        self,
        store: Store,
        *,
        limits: Limits | None = None,
        fingerprints: Fingerprints = None,
        events_every: float = 2.0,
        on_events: EventsListener | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.rate = RateLimiter(self.limits)
        self.reports = ReportBook(store)
        # Reports are kept in the store: each open or close is a small transaction of its own
        # on a cursor, run here so that neither the event loop nor a commit waits for it.
        self._books = ThreadPoolExecutor(1, thread_name_prefix="blockwatch-reports")
        self.committer = Committer(
            store,
            fingerprints=fingerprints,
            events_every=events_every,
            on_events=on_events,
        )

    async def start(self) -> None:
        await self.committer.start()

    async def stop(self) -> None:
        await self.committer.stop()
        self._books.shutdown(wait=True)

    async def _book(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._books, fn)

    async def open(self, body: Any) -> dict[str, Any]:
        report = check_open(body, datetime.now(UTC))
        await self._book(lambda: self.reports.open(report))
        return {
            "backend_version": BACKEND_VERSION,
            "report_id": report.report_id,
            "supported_formats": ["json"],
        }

    async def update(self, report_id: str, body: Any) -> dict[str, Any]:
        report = self.reports.known(report_id)  # the open ones are in memory
        if report is None:
            report = await self._book(lambda: self.reports.get(report_id))
        return {"measurement_id": await self._store(check_update(body, report))}

    async def _store(self, content: dict[str, Any]) -> str:
        uid = measurement_uid(content)
        await self.committer.submit({**content, "measurement_uid": uid})
        return uid

    async def close(self, report_id: str) -> dict[str, str]:
        await self._book(lambda: self.reports.close(report_id))
        return {"status": "success"}

    async def single(self, body: Any) -> dict[str, Any]:
        """bk-003 §3.4: open, submit and close in one call (the report id is ours)."""
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, dict):
            raise SubmissionError(400, "content: must be a JSON object (one measurement)")
        opened = await self.open({**_open_fields(content), "format": body.get("format")})
        report_id = opened["report_id"]
        try:
            uid = await self.update(
                report_id, {**body, "content": {**content, "report_id": report_id}}
            )
        finally:
            await self.close(report_id)
        return {**uid, "report_id": report_id}


def _open_fields(content: dict[str, Any]) -> dict[str, Any]:
    keys = OpenReport.__dataclass_fields__.keys() - {"report_id"}
    return {k: content.get(k) for k in (*keys, "test_version")}
