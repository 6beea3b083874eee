"""The collector's open reports, kept in the store's state so a restart keeps them open."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

from blockwatch.collector.protocol import OpenReport, valid_report_id
from blockwatch.errors import SubmissionError
from blockwatch.store import Store
from blockwatch.store.state import State

__all__ = ["STALE_AFTER", "ReportBook"]

# bk-003 §3: a report updated within the last two hours is not stale.
STALE_AFTER: Final = 3 * 3600.0


class ReportBook:
    """Open, look up and close reports; a report idle for ``stale_after`` seconds is closed."""

    def __init__(self, store: Store, stale_after: float = STALE_AFTER) -> None:
        self.state = State(store, "collector.reports")
        self.stale_after = stale_after
        self._open: dict[str, OpenReport] = {}
        self._touched: dict[str, float] = {}  # monotonic, as bk-003 §4 asks

    def open(self, report: OpenReport) -> None:
        opened = datetime.now(UTC).isoformat()
        self.state.put(report.report_id, {**report.to_json(), "opened": opened, "closed": False})
        self._open[report.report_id] = report
        self._touched[report.report_id] = time.monotonic()

    def known(self, report_id: str) -> OpenReport | None:
        """The open report ``report_id`` if it is in memory and not stale (no store read:
        the event loop's way in; anything else goes through ``get``)."""
        report = self._open.get(report_id)
        touched = self._touched.get(report_id)
        if report is None or touched is None or time.monotonic() - touched > self.stale_after:
            return None
        self._touched[report_id] = time.monotonic()
        return report

    def get(self, report_id: str) -> OpenReport:
        """The open report ``report_id``, or SubmissionError 404 (unknown or closed)."""
        report = self._open.get(report_id)
        if report is None and valid_report_id(report_id):
            report = self._load(report_id)
        if report is None:
            raise SubmissionError(404, "no open report with this id (unknown, closed or stale)")
        idle = time.monotonic() - self._touched.get(report_id, time.monotonic())
        if idle > self.stale_after:
            self.close(report_id)
            raise SubmissionError(404, "the report was closed after being idle: open a new one")
        self._touched[report_id] = time.monotonic()
        return report

    def _load(self, report_id: str) -> OpenReport | None:
        value: dict[str, Any] | None = self.state.get(report_id)
        if value is None or value.get("closed"):
            return None
        report = OpenReport(report_id, **{k: str(value.get(k, "")) for k in _FIELDS})
        self._open[report_id] = report
        self._touched[report_id] = time.monotonic()
        return report

    def close(self, report_id: str) -> None:
        value = self.state.get(report_id)
        if value is None or value.get("closed"):
            raise SubmissionError(404, "no open report with this id")
        self.state.put(report_id, {**value, "closed": True})
        self._open.pop(report_id, None)
        self._touched.pop(report_id, None)


_FIELDS: Final = ("test_name", "probe_cc", "probe_asn", "software_name", "software_version")
