"""Telling a throttled download from a failed one.

A censor that throttles lets bytes through, slowly; a censor that blocks stops them. So a
transfer that made progress at a crawl is "throttled", even when it ended in a timeout.

Threshold: goodput below 64 KiB/s sustained over at least 16 KiB of body. Why these
numbers: the lab throttles at 128-256 kbit/s (16-32 KiB/s) with 24-64 KiB bodies, while
an unthrottled loopback or LAN transfer runs at many MB/s and a slow but normal consumer
link (2 Mbit/s, the low end of mobile broadband) still moves ~250 KiB/s, four times the
threshold. 16 KiB of progress (about a dozen TCP segments) is enough to measure a rate
rather than a handshake or a single slow-start burst.
"""

from __future__ import annotations

from dataclasses import dataclass

from blockwatch.analysis.observations import BodyRead

THROTTLE_BYTES_PER_SECOND = 64 * 1024
MIN_BYTES = 16 * 1024


@dataclass(slots=True)
class Goodput:
    num_bytes: int
    seconds: float
    timed_bytes: int  # the bytes that arrived within ``seconds``

    @property
    def rate(self) -> float:
        return self.timed_bytes / self.seconds if self.seconds > 0 else float("inf")

    def describe(self) -> str:
        return f"{self.num_bytes} body bytes in {self.seconds:.2f} s ({self.rate / 1024:.1f} KiB/s)"


def goodput(reads: list[BodyRead], transaction_id: int | None = None) -> Goodput | None:
    """Body bytes and the time from the first to the last read (of one transaction if given).

    ``num_bytes`` is the whole body seen; the rate uses the bytes after the first read,
    since the first read's bytes arrived before its timestamp.
    """
    if transaction_id is not None:
        chosen = [r for r in reads if r.transaction_id == transaction_id]
        reads = chosen or reads
    reads = sorted((r for r in reads if r.num_bytes > 0), key=lambda r: r.t)
    if len(reads) < 2:
        return None
    total = sum(r.num_bytes for r in reads)
    return Goodput(total, reads[-1].t - reads[0].t, total - reads[0].num_bytes)


def is_throttled(g: Goodput | None) -> bool:
    return g is not None and g.num_bytes >= MIN_BYTES and g.rate < THROTTLE_BYTES_PER_SECOND
