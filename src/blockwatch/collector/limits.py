"""Per-client request rate limits and the capped body read of the collector's routes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from blockwatch.errors import SubmissionError

__all__ = ["Limits", "RateLimiter", "read_json"]

_MAX_CLIENTS: Final = 10_000  # remembered buckets; the idlest are forgotten beyond this


@dataclass(frozen=True, slots=True)
class Limits:
    """``rate`` requests per second per client, bursts of ``burst``; bodies up to
    ``max_body`` bytes (OONI probes cap a response body at 512 KiB, so a measurement of
    several MiB is already unusual)."""

    rate: float = 200.0
    burst: int = 400
    max_body: int = 8 * 1024 * 1024


class RateLimiter:
    """A token bucket per client address."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, client: str) -> None:
        """Take one token for ``client``, or raise SubmissionError 429."""
        now = time.monotonic()
        tokens, last = self._buckets.get(client, (float(self.limits.burst), now))
        tokens = min(float(self.limits.burst), tokens + (now - last) * self.limits.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            raise SubmissionError(429, "too many requests from this address: slow down")
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > _MAX_CLIENTS:
            idlest = sorted(self._buckets, key=lambda c: self._buckets[c][1])
            for key in idlest[: len(idlest) // 2]:
                del self._buckets[key]


async def read_json(
    headers: dict[str, str], chunks: AsyncIterator[bytes], max_body: int, allow_empty: bool
) -> Any:
    """The request's JSON body, read at most ``max_body`` bytes far (413 beyond it)."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # bk-003 §1: a collector that does not take compressed bodies says 415.
        raise SubmissionError(415, f"Content-Encoding {encoding!r} is not supported: send it plain")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise SubmissionError(413, f"body over {max_body} bytes")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > max_body:
            raise SubmissionError(413, f"body over {max_body} bytes")
    if not body and allow_empty:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SubmissionError(400, f"the body is not JSON: {exc}") from exc
