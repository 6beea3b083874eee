"""``blockwatch fetch``: OONI's measurements for a query, downloaded into a local cache and
ingested through the pipeline as they arrive.

The cache mirrors the services: the bucket's files keep their keys (``OUT/raw/YYYYMMDD/HH/
CC/TEST/*.jsonl.gz``), the API's measurements go to ``OUT/api/YYYYMMDD/UID.json``. A file is
written as ``NAME.part`` and renamed once its size (and MD5 ETag) checks out, so a file under
its final name is complete: a second run downloads nothing, and a killed run resumes its
partial files with Range requests. Ingest is the pipeline's own resumable ingest_paths, so the
store a resumed run ends with is the store an uninterrupted run makes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Final, Protocol

import orjson

from blockwatch.errors import FetchError
from blockwatch.pipeline import Fingerprints, IngestReport, ingest_paths, resolve_fingerprints
from blockwatch.scale.http import HttpClient, RetryPolicy
from blockwatch.scale.listing import (
    ApiItem,
    BucketObject,
    api_raw_url,
    list_api,
    list_bucket,
)
from blockwatch.scale.query import FetchQuery, hour_prefixes
from blockwatch.store import Store

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_BUCKET_URL",
    "FetchProgress",
    "FetchReport",
    "fetch",
]

DEFAULT_BUCKET_URL: Final = "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com"
DEFAULT_API_URL: Final = "https://api.ooni.io"
DEFAULT_CONCURRENCY: Final = 4
# Files are ingested in groups: ingest_paths reads the store's file bookkeeping once a call.
INGEST_FILES: Final = 256
INGEST_BYTES: Final = 64 * 1024 * 1024
INGEST_SECONDS: Final = 2.0  # and at least this often, so the store fills as files arrive


class FetchProgress(Protocol):
    """Where fetch reports how far it got (the CLI's progress bar). ``transferred`` is called
    from the download threads."""

    def planned(self, files: int, nbytes: int | None) -> None: ...
    def transferred(self, nbytes: int) -> None: ...
    def file_done(self, cached: bool) -> None: ...
    def ingested(self, measurements: int) -> None: ...


@dataclass
class FetchReport:
    """What one fetch did: files listed, downloaded, found in the cache; bytes moved."""

    interface: str = ""
    listed: int = 0
    downloaded: int = 0
    cached: int = 0
    bytes_downloaded: int = 0
    retries: int = 0
    seconds: float = 0.0
    ingest: IngestReport | None = None
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    url: str
    dest: Path
    size: int | None  # None: unknown before (one API measurement)
    etag: str | None = None


def fetch(
    query: FetchQuery,
    out_dir: Path,
    *,
    store: Store | None = None,
    bucket_url: str = DEFAULT_BUCKET_URL,
    api_url: str = DEFAULT_API_URL,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetryPolicy | None = None,
    progress: FetchProgress | None = None,
    fingerprints: Fingerprints = None,
) -> FetchReport:
    """Download what ``query`` selects into ``out_dir`` (see module doc) and, with a store,
    ingest each file once it is complete. FetchError when a service cannot be read."""
    started = time.perf_counter()
    report = FetchReport(interface=query.interface)
    with HttpClient(retry) as client, ThreadPoolExecutor(max(1, concurrency)) as pool:
        if query.interface == "bucket":
            jobs = _bucket_jobs(client, pool, bucket_url, query, out_dir)
        else:
            jobs = _api_jobs(client, api_url, query, out_dir)
        report.listed = len(jobs)
        todo = [j for j in jobs if not _cached(j)]
        report.cached = len(jobs) - len(todo)
        if progress is not None:
            sizes = [j.size for j in todo]
            known = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
            progress.planned(len(jobs), known)
        ingest = _Ingest(store, fingerprints, progress)
        missing = {job.dest for job in todo}
        for job in jobs:
            if job.dest not in missing:
                report.files.append(job.dest)
                ingest.add(job.dest)
                if progress is not None:
                    progress.file_done(True)
        for job, moved in _download_all(client, pool, todo, progress):
            report.downloaded += 1
            report.bytes_downloaded += moved
            report.files.append(job.dest)
            ingest.add(job.dest)
        report.ingest = ingest.finish()
        report.retries = client.retries
    report.seconds = time.perf_counter() - started
    return report


def _bucket_jobs(
    client: HttpClient,
    pool: ThreadPoolExecutor,
    bucket_url: str,
    query: FetchQuery,
    out_dir: Path,
) -> list[_Job]:
    """One job per object under the query's hour prefixes (listed concurrently)."""
    listings = pool.map(lambda p: list_bucket(client, bucket_url, p), hour_prefixes(query))
    base = bucket_url.rstrip("/")
    objects: list[BucketObject] = [o for page in listings for o in page]
    return [_Job(f"{base}/{o.key}", out_dir / o.key, o.size, o.etag) for o in objects]


def _api_jobs(client: HttpClient, api_url: str, query: FetchQuery, out_dir: Path) -> list[_Job]:
    """One job per measurement the API lists for the query."""
    return [
        _Job(api_raw_url(api_url, item.measurement_uid), _api_path(out_dir, item), None)
        for item in list_api(client, api_url, query)
    ]


def _api_path(out_dir: Path, item: ApiItem) -> Path:
    day = "".join(c for c in item.measurement_start_time[:10] if c.isdigit())
    return out_dir / "api" / (day if len(day) == 8 else "undated") / f"{item.measurement_uid}.json"


def _cached(job: _Job) -> bool:
    """Complete in the cache: present under its final name with the listed size."""
    if not job.dest.exists():
        return False
    return job.size is None or job.dest.stat().st_size == job.size


def _download_all(
    client: HttpClient,
    pool: ThreadPoolExecutor,
    jobs: list[_Job],
    progress: FetchProgress | None,
) -> Iterator[tuple[_Job, int]]:
    """(job, bytes moved) as each download completes; at most the pool's size at once.
    The first failure cancels what has not started and is raised."""
    on_bytes = progress.transferred if progress is not None else None
    pending: dict[Future[int], _Job] = {
        pool.submit(_download, client, job, on_bytes): job for job in jobs
    }
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                moved = future.result()
                if progress is not None:
                    progress.file_done(False)
                yield job, moved
    finally:
        for future in pending:
            future.cancel()


def _download(client: HttpClient, job: _Job, callback: Callable[[int], None] | None) -> int:
    """Fetch one job into its cache file; returns the bytes moved."""
    if job.size is not None:
        return client.download(job.url, job.dest, job.size, job.etag, callback)
    body = client.get(job.url)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FetchError(job.url, f"raw measurement is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise FetchError(job.url, "raw measurement is not a JSON object")
    job.dest.parent.mkdir(parents=True, exist_ok=True)
    part = job.dest.with_name(job.dest.name + ".part")
    part.write_bytes(body)
    part.replace(job.dest)
    if callback is not None:
        callback(len(body))
    return len(body)


class _Ingest:
    """Completed files, ingested a group at a time through the pipeline (when a store is
    given); the reports of the groups add up to one."""

    def __init__(
        self, store: Store | None, fingerprints: Fingerprints, progress: FetchProgress | None
    ) -> None:
        self.store = store
        self.fingerprints = resolve_fingerprints(fingerprints)
        self.progress = progress
        self.pending: list[Path] = []
        self.pending_bytes = 0
        self.last = time.monotonic()
        self.report = IngestReport() if store is not None else None

    def add(self, path: Path) -> None:
        if self.store is None:
            return
        self.pending.append(path)
        self.pending_bytes += path.stat().st_size
        if (
            len(self.pending) >= INGEST_FILES
            or self.pending_bytes >= INGEST_BYTES
            or time.monotonic() - self.last >= INGEST_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if self.store is None or not self.pending or self.report is None:
            return
        part = ingest_paths(self.store, self.pending, fingerprints=self.fingerprints)
        _add_reports(self.report, part)
        self.pending, self.pending_bytes, self.last = [], 0, time.monotonic()
        if self.progress is not None:
            self.progress.ingested(part.read)

    def finish(self) -> IngestReport | None:
        self.flush()
        return self.report


def _add_reports(total: IngestReport, part: IngestReport) -> None:
    for f in fields(IngestReport):
        value = getattr(part, f.name)
        if isinstance(value, list):
            total.errors.extend(value[: max(0, 10_000 - len(total.errors))])
        elif isinstance(value, int | float):
            setattr(total, f.name, getattr(total, f.name) + value)
