"""HTTP for the archive fetcher: bounded GETs and resumable downloads, retried with backoff.

A request that gets a 429 or a 5xx, or whose connection drops or times out, is tried again
after an exponential backoff (``Retry-After`` honoured, capped); a download that drops half
way resumes from the bytes already on disk with a ``Range`` request. Anything else (a 404, a
403, every try spent) is a :class:`FetchError` naming the URL.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import httpx

from blockwatch import __version__
from blockwatch.errors import FetchError

__all__ = ["MAX_PAGE_BYTES", "HttpClient", "RetryPolicy"]

MAX_PAGE_BYTES: Final = 32 * 1024 * 1024  # a listing page or one raw measurement
_RETRY_STATUS: Final = frozenset({429, 500, 502, 503, 504})
_CHUNK: Final = 256 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to try again (seconds)."""

    tries: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """The wait before try ``attempt + 1``: Retry-After if the server gave one (capped),
        else exponential with jitter."""
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff)
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        base = min(self.backoff * (2**attempt), self.max_backoff)
        return base * (0.5 + random.random() / 2)


class _Retry(Exception):
    """One try failed in a way worth another try."""

    def __init__(self, reason: str, retry_after: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class HttpClient:
    """One connection pool shared by the fetcher's threads (httpx.Client is thread-safe)."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self.retries = 0  # tries that failed and were tried again, for the report
        timeout = httpx.Timeout(
            self.policy.read_timeout, connect=self.policy.connect_timeout, pool=None
        )
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            headers={"User-Agent": f"blockwatch/{__version__}"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _with_retries(self, url: str, attempt_once: Callable[[], T]) -> T:
        last = "no try made"
        for attempt in range(self.policy.tries):
            try:
                return attempt_once()
            except _Retry as retry:
                last = retry.reason
                if attempt + 1 < self.policy.tries:
                    self.retries += 1
                    time.sleep(self.policy.delay(attempt, retry.retry_after))
        raise FetchError(url, f"gave up after {self.policy.tries} tries: {last}")

    def get(self, url: str, params: dict[str, str] | None = None) -> bytes:
        """The body of a GET (at most MAX_PAGE_BYTES), retried as the module says."""

        def once() -> bytes:
            try:
                with self._client.stream("GET", url, params=params) as response:
                    _check_status(url, response)
                    body = bytearray()
                    for chunk in response.iter_bytes(_CHUNK):
                        body += chunk
                        if len(body) > MAX_PAGE_BYTES:
                            raise FetchError(url, f"answer larger than {MAX_PAGE_BYTES} bytes")
                    return bytes(body)
            except httpx.TransportError as exc:
                raise _Retry(_transport_reason(exc)) from exc

        return self._with_retries(url, once)

    def download(
        self,
        url: str,
        dest: Path,
        size: int,
        etag: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> int:
        """Download ``url`` (``size`` bytes) to ``dest``: written to ``dest.part`` first,
        resumed from what that holds, checked against the size (and the ETag when it is a
        plain MD5), then renamed. Returns the bytes transferred by this call."""
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        moved = 0

        def once() -> int:
            nonlocal moved
            have = part.stat().st_size if part.exists() else 0
            if have > size:
                part.unlink()
                have = 0
            if have < size:
                moved += self._transfer(url, part, have, on_bytes)
            return moved

        self._with_retries(url, once)
        _verify(url, part, size, etag)
        part.replace(dest)
        return moved

    def _transfer(
        self, url: str, part: Path, have: int, on_bytes: Callable[[int], None] | None
    ) -> int:
        headers = {"Range": f"bytes={have}-"} if have else {}
        moved = 0
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                _check_status(url, response)
                # 200 to a Range request: the server sends it all again, so start over.
                mode = "ab" if have and response.status_code == 206 else "wb"
                with part.open(mode, buffering=0) as out:  # what arrived is on disk
                    for chunk in response.iter_raw():  # as it arrives: a killed run keeps it
                        out.write(chunk)
                        moved += len(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
        except httpx.TransportError as exc:
            raise _Retry(_transport_reason(exc)) from exc
        return moved


def _check_status(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if status in _RETRY_STATUS:
        raise _Retry(f"HTTP {status}", response.headers.get("retry-after"))
    if status >= 400:
        raise FetchError(url, f"HTTP {status}")


def _transport_reason(exc: httpx.TransportError) -> str:
    kind = {
        httpx.ConnectError: "cannot connect",
        httpx.ConnectTimeout: "connect timed out",
        httpx.ReadTimeout: "read timed out",
        httpx.RemoteProtocolError: "connection dropped",
    }.get(type(exc), type(exc).__name__)
    return f"{kind} ({exc})" if str(exc) else kind


def _verify(url: str, part: Path, size: int, etag: str | None) -> None:
    """A finished download has the listed size, and the listed MD5 where the ETag is one
    (a multipart upload's ETag, ``"...-N"``, is not a digest of the content)."""
    have = part.stat().st_size
    if have != size:
        part.unlink(missing_ok=True)
        raise FetchError(url, f"downloaded {have} bytes, the listing says {size}")
    digest = (etag or "").strip('"').lower()
    if len(digest) == 32 and all(c in "0123456789abcdef" for c in digest):
        md5 = hashlib.md5(usedforsecurity=False)
        with part.open("rb") as f:
            while block := f.read(1 << 20):
                md5.update(block)
        if md5.hexdigest() != digest:
            part.unlink(missing_ok=True)
            raise FetchError(url, "content does not match its ETag (MD5): removed, run again")
