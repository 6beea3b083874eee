"""Telling a throttled download from a stalled or a failed one, from the read trace.

A censor that throttles lets bytes through, slowly; a censor that blocks stops them. Our
probe notes every read on the wire (under TLS, so a throttled HTTPS transfer shows its
progress before a whole TLS record has arrived) as OONI ``network_events``, with marks
where the HTTP exchange starts and ends. Three shapes of a transfer cut by the timeout:

- **steady**: many reads, low goodput, no long gap, still arriving when the time ran out:
  a policer. ``throttled``, with the goodput (kbit/s) in the evidence.
- **stall**: bytes came, then none for seconds before the timeout (a censor that lets the
  first bytes through and then drops the flow, or a server that hung): ``http.timeout``.
- **silent**: nothing after the request: a plain ``http.timeout``.

Thresholds. Goodput below 64 KiB/s (512 kbit/s): the lab throttles at 64-256 kbit/s,
Russia's 2021 Twitter policer ran at ~130-150 kbit/s, while a slow but normal consumer
link (2 Mbit/s) still moves ~250 KiB/s, four times the threshold. A *completed* transfer
must move 16 KiB (about a dozen TCP segments, enough to be a rate rather than one
slow-start burst); one cut by the timeout needs no minimum body, only 4 reads of the
exchange (a policer delivers segment after segment; a stall does not). A stall is a
silence before the end (from the last read to the timeout) of at least 1 s that is also 6
times the transfer's median gap between reads: a policer's pace is regular, so its last gap
is like the others. A pause mid-transfer that progress followed (a policer's drops, TCP
backing off) is not a stall.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from typing import Any, Final

from blockwatch.analysis.observations import BodyRead, body_reads

THROTTLE_BYTES_PER_SECOND: Final = 64 * 1024
MIN_BYTES: Final = 16 * 1024  # a completed transfer (see the module docstring)
MIN_READS: Final = 4  # a transfer cut by the timeout
STALL_SECONDS: Final = 1.0
STALL_FACTOR: Final = 6.0


@dataclass(slots=True)
class Goodput:
    num_bytes: int
    seconds: float
    timed_bytes: int  # the bytes that arrived within ``seconds``

    @property
    def rate(self) -> float:
        return self.timed_bytes / self.seconds if self.seconds > 0 else float("inf")

    @property
    def kbps(self) -> float:
        return self.rate * 8 / 1000

    def describe(self) -> str:
        if self.seconds <= 0:
            return f"{self.num_bytes} bytes in one read (goodput not measurable)"
        return f"goodput {self.kbps:.1f} kbit/s ({self.num_bytes} bytes in {self.seconds:.2f} s)"


def goodput(reads: list[BodyRead], transaction_id: int | None = None) -> Goodput | None:
    """Bytes and the time from the first to the last read (of one transaction if given).

    ``num_bytes`` is everything read; the rate uses the bytes after the first read,
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
    """A completed transfer that crawled in (16 KiB at least, below the threshold)."""
    return g is not None and g.num_bytes >= MIN_BYTES and g.rate < THROTTLE_BYTES_PER_SECOND


@dataclass(slots=True)
class Transfer:
    """The shape of one HTTP exchange's reads up to its end (see the module docstring)."""

    shape: str  # "steady" | "stall" | "brief" (too few reads to tell) | "silent"
    goodput: Goodput | None
    reads: int
    longest_gap: float
    tail_gap: float | None  # last read to the end of the exchange (None: end unknown)

    def describe(self) -> str:
        if self.goodput is None:
            return "no bytes after the request"
        tail = "" if self.tail_gap is None else f", last read {self.tail_gap:.2f} s before the end"
        return (
            f"{self.goodput.describe()}, {self.reads} reads, longest gap without bytes "
            f"{self.longest_gap:.2f} s{tail}"
        )


def exchange_end(tk: dict[str, Any], transaction_id: int | None) -> float | None:
    """When the exchange of ``transaction_id`` ended: its ``http_transaction_done`` mark,
    else its request's ``t`` (OONI's end time; 0 where a file was scrubbed), else None."""
    for ev in tk.get("network_events") or []:
        if (
            isinstance(ev, dict)
            and ev.get("operation") == "http_transaction_done"
            and ev.get("transaction_id") == transaction_id
            and isinstance(ev.get("t"), int | float)
        ):
            return float(ev["t"])
    for req in tk.get("requests") or []:
        if not isinstance(req, dict) or req.get("transaction_id") != transaction_id:
            continue
        t = req.get("t")
        if isinstance(t, int | float) and t > 0:
            return float(t)
    return None


def transfer(tk: dict[str, Any], transaction_id: int | None) -> Transfer:
    """Classify the reads of one exchange (steady, stall or silent)."""
    every = [r for r in body_reads(tk) if r.num_bytes > 0]
    reads = [r for r in every if r.transaction_id == transaction_id]
    if not reads and all(r.transaction_id is None for r in every):
        reads = every  # a trace that names no connection (older probes): all of it
    reads.sort(key=lambda r: r.t)
    end = exchange_end(tk, transaction_id)
    if not reads:
        return Transfer("silent", None, 0, 0.0, None)
    times = [r.t for r in reads]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    tail = end - times[-1] if end is not None and end >= times[-1] else None
    typical = statistics.median(gaps) if gaps else 0.0
    stall_at = max(STALL_SECONDS, STALL_FACTOR * typical)
    longest = max([*gaps, tail or 0.0])
    g = goodput(reads)
    if g is None:  # a single read: its bytes came, then nothing more
        g = Goodput(reads[0].num_bytes, 0.0, 0)
    # A pause that progress followed (a policer's drops, TCP backing off) is not a stall;
    # the silence before the end is. Without the end, the longest gap is all there is.
    stalled = (tail if tail is not None else longest) >= stall_at
    steady = len(reads) >= MIN_READS
    shape = "stall" if stalled else "steady" if steady else "brief"
    return Transfer(shape, g, len(reads), longest, tail)


@dataclass(slots=True)
class CutTransfer:
    """What a timed-out exchange's trace says: which case (a stable name, fit for a rule
    id), the method, its confidence and the evidence."""

    case: str  # "throttled.timeout" | "throttled.timeout.no_trace" | "http.timeout.stall"
    method: str
    confidence: float
    evidence: list[str]


def judge_timed_out(
    tk: dict[str, Any], transaction_id: int | None, status: int | None, truncated: bool
) -> CutTransfer | None:
    """An HTTP exchange the timeout cut, against the control's whole fetch (the baseline).

    None: nothing to say beyond the plain timeout (no bytes, or no trace and no body).
    """
    t = transfer(tk, transaction_id)
    base = baseline(tk, t.goodput)
    if t.shape == "steady" and t.goodput is not None:
        if t.goodput.rate >= THROTTLE_BYTES_PER_SECOND:
            return None  # fast yet cut: a large page, not a policer
        ev = [f"steady slow transfer until the timeout: {t.describe()}", base]
        return CutTransfer("throttled.timeout", "throttled", 0.75, ev)
    if t.shape == "stall":
        ev = [f"the transfer stalled before the timeout: {t.describe()}", base]
        return CutTransfer("http.timeout.stall", "http.timeout", 0.75, ev)
    if status and truncated and not _has_reads(tk):
        # No trace at all (other probes, scrubbed files): a status and part of a body
        # that the timeout cut is the best sign of a crawl there is.
        ev = [
            f"probe got status {status} then the body timed out mid-transfer; goodput "
            "not measurable (the measurement has no read events)",
            base,
        ]
        return CutTransfer("throttled.timeout.no_trace", "throttled", 0.5, ev)
    return None


def _has_reads(tk: dict[str, Any]) -> bool:
    events = tk.get("network_events")
    return isinstance(events, list) and any(
        isinstance(e, dict) and e.get("operation") == "read" for e in events
    )


def baseline(tk: dict[str, Any], g: Goodput | None) -> str:
    """Which unthrottled fetch the transfer is compared with, and what it says.

    The control's fetch of the same URL, from outside the probe's network: the whole page
    (its body length), and its goodput where the control measured one (our helper's
    ``x_goodput_kbps``; OONI's helpers do not).
    """
    ctrl = tk.get("control")
    http = ctrl.get("http_request") if isinstance(ctrl, dict) else None
    http = http if isinstance(http, dict) else {}
    length = http.get("body_length")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        return "baseline: none (the control's fetch has no body length)"
    text = f"baseline: the control's fetch of the same URL got the whole page ({length} bytes)"
    measured = g is not None and g.seconds > 0 and g.rate > 0
    kbps = http.get("x_goodput_kbps")
    if isinstance(kbps, int | float) and not isinstance(kbps, bool) and kbps > 0:
        text += f" at {kbps:.1f} kbit/s"
        if measured and g is not None:
            text += f", {kbps / g.kbps:.0f} times the probe's goodput"
    elif measured and g is not None:
        text += f", which at the probe's goodput takes {length / g.rate:.1f} s"
    return text
