"""The probe's side of OONI's collector protocol (bk-003): open a report per test and vantage,
submit measurements into it, close it. Network-bounded: timeouts on every request."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx

from blockwatch import __version__
from blockwatch.errors import ProbeError
from blockwatch.probe.spool import Spool
from blockwatch.times import parse_iso

__all__ = ["CollectorClient", "CollectorRefused", "CollectorUnreachable", "deliver"]

TIMEOUT: Final = 30.0


class CollectorUnreachable(ProbeError):
    """The collector did not answer (or answered 5xx/429): keep the measurement, retry later."""


class CollectorRefused(ProbeError):
    """The collector refused this measurement for good (4xx): resubmitting will not help."""


@dataclass
class CollectorClient:
    base_url: str
    timeout: float = TIMEOUT
    _reports: dict[tuple[str, str, str], tuple[str, float]] = field(default_factory=dict)
    _http: httpx.Client | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # one report per key

    def __post_init__(self) -> None:
        self._http = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout)

    def close(self) -> None:
        for report_id, _ in self._reports.values():
            # A report left open is closed by the collector when it goes stale.
            with contextlib.suppress(ProbeError):
                self._post(f"/report/{report_id}/close", None)
        self._reports.clear()
        if self._http is not None:
            self._http.close()

    def _post(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        assert self._http is not None
        try:
            answer = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise CollectorUnreachable(f"collector {self.base_url}: {exc}") from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise CollectorUnreachable(f"collector {self.base_url}: HTTP {answer.status_code}")
        if answer.status_code >= 400:
            raise CollectorRefused(f"collector refused ({answer.status_code}): {answer.text[:200]}")
        try:
            data: dict[str, Any] = answer.json()
        except ValueError:
            data = {}
        return data

    def _report_for(self, doc: dict[str, Any], fresh: bool) -> str:
        with self._lock:
            return self._open_report(doc, fresh)

    def _open_report(self, doc: dict[str, Any], fresh: bool) -> str:
        key = (str(doc.get("test_name")), str(doc.get("probe_cc")), str(doc.get("probe_asn")))
        known = self._reports.get(key)
        if known is not None and not fresh:
            return known[0]
        opened = self._post(
            "/report",
            {
                "data_format_version": "0.2.0",
                "format": "json",
                "probe_asn": key[2],
                "probe_cc": key[1],
                "software_name": str(doc.get("software_name") or "blockwatch"),
                "software_version": str(doc.get("software_version") or __version__),
                "test_name": key[0],
                "test_version": str(doc.get("test_version") or "0.4.3"),
            },
        )
        report_id = str(opened.get("report_id", ""))
        if not report_id:
            raise CollectorRefused("the collector opened a report without an id")
        self._reports[key] = (report_id, time.monotonic())
        return report_id

    def settle(self) -> datetime | None:
        """Ask the collector to decide its events on what it holds now; returns the
        measurement time they are decided up to (None: it could not say)."""
        assert self._http is not None
        try:
            value = self._http.post("/api/collector/settle").json().get("events_as_of")
        except (httpx.HTTPError, ValueError):
            return None
        return parse_iso(value) if isinstance(value, str) else None

    def submit(self, doc: dict[str, Any]) -> str:
        """Submit one measurement; returns the uid the collector stored it under."""
        try:
            return self._send(self._report_for(doc, fresh=False), doc)
        except CollectorRefused:
            # The report may be gone (closed when idle, bk-003 §3.2): once more, in a new one;
            # a second refusal is about the measurement itself.
            return self._send(self._report_for(doc, fresh=True), doc)

    def _send(self, report_id: str, doc: dict[str, Any]) -> str:
        content = {**doc, "report_id": report_id}
        answer = self._post(f"/report/{report_id}", {"format": "json", "content": content})
        return str(answer.get("measurement_id", ""))


def deliver(spool: Spool, client: CollectorClient, parallel: int = 8) -> tuple[int, str]:
    """Send what ``spool`` holds, oldest first, ``parallel`` at a time (the collector commits
    what arrives together as one batch); returns (delivered, why it stopped or "").
    An unreachable collector stops the delivery with the rest kept, in order; a measurement
    refused for good is set aside as ``.refused`` and the others go on."""
    sent = 0
    items = list(spool.pending())
    with ThreadPoolExecutor(max(1, parallel)) as pool:
        for start in range(0, len(items), max(1, parallel)):
            chunk = items[start : start + max(1, parallel)]
            outcomes = list(pool.map(lambda item: _submit(client, item[1]), chunk))
            for (path, _), outcome in zip(chunk, outcomes, strict=True):
                if outcome == "ok":
                    spool.done(path)
                    sent += 1
                elif outcome == "refused":
                    path.rename(path.with_suffix(".refused"))
            problem = next((o for o in outcomes if o not in ("ok", "refused")), None)
            if problem is not None:
                return sent, problem  # the rest stays, in order, for the next delivery
    return sent, ""


def _submit(client: CollectorClient, doc: dict[str, Any]) -> str:
    try:
        client.submit(doc)
    except CollectorUnreachable as exc:
        return str(exc)
    except CollectorRefused:
        return "refused"
    return "ok"
