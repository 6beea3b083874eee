"""Running the probe: one OONI measurement document per URL, many URLs bounded.

``measure_url`` wraps the Web Connectivity test keys in OONI's df-000 envelope;
``measure_urls`` runs many with at most ``config.concurrency`` in flight, yielding each
document as soon as it is finished (so an interrupted run keeps every finished one).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from blockwatch import __version__
from blockwatch.net.geoip import AsnDatabase
from blockwatch.ooni.measurement import report_id
from blockwatch.probe import webconnectivity
from blockwatch.probe.config import ProbeConfig
from blockwatch.times import ooni_time

__all__ = ["envelope", "make_report_id", "measure_url", "measure_urls", "open_asn_db"]

TEST_NAME = "web_connectivity"
TEST_VERSION = "0.4.3"
SOFTWARE_NAME = "blockwatch"


def make_report_id(config: ProbeConfig, start: datetime | None = None) -> str:
    """A new OONI-shaped report id for this vantage, random in its last part."""
    start = start or datetime.now(UTC)
    return report_id(start, TEST_NAME, config.probe_cc, config.probe_asn, secrets.token_hex(8))


async def measure_url(
    url: str,
    config: ProbeConfig,
    *,
    start_time: datetime | None = None,
    report_id: str | None = None,
    asn_db: AsnDatabase | None = None,
) -> dict[str, Any]:
    """One OONI web_connectivity measurement of ``url`` (``start_time``: virtual time)."""
    started = time.monotonic()
    start = start_time or datetime.now(UTC)
    if asn_db is None and config.geoip_db:
        asn_db = open_asn_db(config.geoip_db)
    try:
        async with asyncio.timeout(config.timeouts.total):
            keys = await webconnectivity.run(url, config, asn_db)
    except TimeoutError:
        keys = _failed_keys("generic_timeout_error")
    except ValueError as exc:  # not an http(s) URL: recorded, never raised mid-run
        keys = _failed_keys(f"unknown_failure: {exc}")
    runtime = time.monotonic() - started
    return envelope(url, config, keys, start=start, report_id=report_id, runtime=runtime)


def envelope(
    url: str,
    config: ProbeConfig,
    keys: dict[str, Any],
    *,
    start: datetime,
    report_id: str | None,
    runtime: float,
) -> dict[str, Any]:
    """OONI's df-000 base around web_connectivity test keys."""
    return {
        "annotations": {"engine_name": SOFTWARE_NAME, "platform": "linux"},
        "data_format_version": "0.2.0",
        "input": url,
        "measurement_start_time": ooni_time(start),
        "test_start_time": ooni_time(start),
        "probe_asn": config.probe_asn,
        "probe_cc": config.probe_cc,
        "probe_ip": "127.0.0.1",  # OONI's redaction of the probe's own address
        "probe_network_name": config.probe_network_name,
        "report_id": report_id or make_report_id(config, start),
        "resolver_asn": None,
        "resolver_ip": config.resolver_address[0] if config.resolver_address else None,
        "software_name": SOFTWARE_NAME,
        "software_version": __version__,
        "test_helpers": {"backend": {"address": config.control_url, "type": "https"}}
        if config.control_url
        else {},
        "test_name": TEST_NAME,
        "test_version": TEST_VERSION,
        "test_runtime": round(runtime, 6),
        "test_keys": keys,
    }


@functools.lru_cache(maxsize=4)
def open_asn_db(path: str) -> AsnDatabase:
    """One reader per database file for the whole process (it is read-only, mmap'd)."""
    return AsnDatabase(path)


def _failed_keys(failure: str) -> dict[str, Any]:
    return {
        "queries": [],
        "tcp_connect": [],
        "tls_handshakes": [],
        "requests": [],
        "network_events": [],
        "control": {},
        "control_failure": None,
        "dns_experiment_failure": None,
        "http_experiment_failure": failure,
        "dns_consistency": None,
        "body_length_match": None,
        "body_proportion": None,
        "status_code_match": None,
        "headers_match": None,
        "title_match": None,
        "blocking": None,
        "accessible": None,
    }


async def measure_urls(
    urls: Iterable[str],
    config: ProbeConfig,
    *,
    start_time: datetime | None = None,
    report_id: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Measure every URL, at most ``config.concurrency`` at once, yielding as they finish."""
    asn_db = open_asn_db(config.geoip_db) if config.geoip_db else None
    report_id = report_id or make_report_id(config, start_time)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    pending = list(urls)
    slots = asyncio.Semaphore(config.concurrency)

    async def one(url: str) -> None:
        async with slots:
            try:
                doc = await measure_url(
                    url, config, start_time=start_time, report_id=report_id, asn_db=asn_db
                )
            except Exception as exc:  # a probe bug must not hang the run: record it
                keys = _failed_keys(f"unknown_failure: {exc!r}")
                start = start_time or datetime.now(UTC)
                doc = envelope(url, config, keys, start=start, report_id=report_id, runtime=0.0)
        await queue.put(doc)

    tasks: set[asyncio.Task[None]] = set()
    try:
        # Start tasks lazily so a 100k-URL list does not make 100k tasks at once.
        it = iter(pending)
        for url in itertools.islice(it, config.concurrency * 2):
            tasks.add(asyncio.create_task(one(url)))
        done = 0
        while done < len(pending):
            doc = await queue.get()
            done += 1
            nxt = next(it, None)
            if nxt is not None:
                tasks.add(asyncio.create_task(one(nxt)))
            tasks = {t for t in tasks if not t.done()}
            yield doc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
