"""Throttling from the read trace: a steady slow transfer (a policer) against a stall, a
plain timeout, a fast transfer cut by the timeout, and a trace too short to tell."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from wcsynth import measurement

from blockwatch.analysis.rules import RULE_BY_ID
from blockwatch.analysis.throttling import judge_timed_out, transfer
from blockwatch.analysis.verdict import analyze_document
from blockwatch.config import shared_data_dir

TIMEOUT = "generic_timeout_error"


def traced(
    reads: list[tuple[float, int]],
    *,
    start: float | None = 0.5,
    end: float | None = None,
    handshake: tuple[tuple[float, int], ...] = (),
    **seen: Any,
) -> dict[str, Any]:
    """A timed-out https fetch whose connection's trace is ``handshake`` reads, the
    ``http_transaction_start`` mark, ``reads``, then ``http_transaction_done`` at ``end``."""
    seen.setdefault("http_failure", TIMEOUT)
    seen.setdefault("truncated", True)
    doc = measurement("https://blocked.lab/", reads=[*handshake, *reads], **seen)
    events = doc["test_keys"]["network_events"]
    if start is not None:
        events.append({"operation": "http_transaction_start", "t": start, "transaction_id": 1})
    if end is not None:
        events.append({"operation": "http_transaction_done", "t": end, "transaction_id": 1})
    return doc


def pace(
    rate_bytes: float, seconds: float, piece: int = 1460, t0: float = 0.6
) -> list[tuple[float, int]]:
    """Reads of ``piece`` bytes at ``rate_bytes`` per second for ``seconds``."""
    n = int(seconds * rate_bytes / piece)
    return [(t0 + i * piece / rate_bytes, piece) for i in range(n)]


POLICED = pace(8000, 1.9)  # 64 kbit/s until the 2 s timeout (end 2.5)


def test_a_steady_slow_transfer_cut_by_the_timeout_is_throttled_with_its_goodput() -> None:
    v = analyze_document(traced(POLICED, end=2.5))
    assert (v.outcome, v.method) == ("blocked", "throttled"), v.evidence
    steady = next(e for e in v.evidence if e.startswith("steady slow transfer"))
    assert "goodput 64.0 kbit/s" in steady
    assert v.evidence[-1] == (
        "baseline: the control's fetch of the same URL got the whole page (2077 bytes),"
        " which at the probe's goodput takes 0.3 s"
    )


def test_no_minimum_body_applies_to_a_transfer_cut_by_the_timeout() -> None:
    tiny = [(0.6 + i * 0.25, 512) for i in range(6)]  # 3 KiB at 16 kbit/s
    assert analyze_document(traced(tiny, end=2.5)).method == "throttled"


def test_bytes_then_silence_for_seconds_is_a_stall_not_throttling() -> None:
    stalled = pace(8000, 0.6)  # bytes for 0.6 s, then nothing until the end at 2.5
    v = analyze_document(traced(stalled, end=2.5))
    assert (v.outcome, v.method) == ("blocked", "http.timeout"), v.evidence
    assert v.evidence[1].startswith("the transfer stalled before the timeout")


def test_a_pause_that_progress_followed_is_not_a_stall() -> None:
    # TCP backing off after a policer's drops: 1.7 s without a byte, then steady again.
    gap = [*pace(8000, 0.5), *pace(8000, 0.5, t0=2.2)]
    t = transfer(traced(gap, end=2.8)["test_keys"], 1)
    assert t.shape == "steady" and t.longest_gap > 1.4
    assert analyze_document(traced(gap, end=2.8)).method == "throttled"
    # Without the exchange's end, the longest gap is all there is to judge by.
    assert transfer(traced(gap, end=None)["test_keys"], 1).shape == "stall"


def test_nothing_after_the_request_is_a_plain_timeout() -> None:
    # The TLS handshake's reads came before the request: they are not the transfer's.
    doc = traced([], handshake=((0.1, 1400), (0.2, 2600)), end=2.5, status=None)
    assert transfer(doc["test_keys"], 1).shape == "silent"
    v = analyze_document(doc)
    assert (v.outcome, v.method) == ("blocked", "http.timeout")
    assert len(v.evidence) == 2  # the plain timeout's evidence, no trace to speak of


def test_a_fast_transfer_cut_by_the_timeout_is_not_throttled() -> None:
    fast = pace(400_000, 1.9)  # 3.2 Mbit/s
    assert analyze_document(traced(fast, end=2.5)).method == "http.timeout"


def test_two_reads_are_too_few_to_call_a_pace() -> None:
    doc = traced([(0.6, 200), (1.6, 1)], end=2.5)
    assert transfer(doc["test_keys"], 1).shape == "brief"
    assert analyze_document(doc).method == "http.timeout"


def test_the_policers_regular_gaps_are_not_a_stall_however_slow() -> None:
    slow = pace(1000, 14.0, piece=1460)  # 8 kbit/s, a segment every 1.46 s, 15 s timeout
    t = transfer(traced(slow, end=15.2)["test_keys"], 1)
    assert t.shape == "steady" and t.goodput is not None and 7.5 < t.goodput.kbps < 8.5


def test_handshake_reads_do_not_count_in_a_completed_transfers_goodput() -> None:
    # A fast page after a slow handshake and server think time: not throttled.
    page = [(2.0 + i * 0.001, 4096) for i in range(12)]
    doc = traced(page, start=1.0, handshake=((0.1, 3000), (0.9, 1000)), http_failure=None)
    doc["test_keys"]["requests"][0]["response"]["body_is_truncated"] = False
    assert analyze_document(doc).outcome == "ok"


def test_a_completed_crawl_names_its_goodput_and_baseline() -> None:
    crawl = [(1.0 + i * 0.25, 4096) for i in range(12)]  # 48 KiB at 16 KiB/s
    v = analyze_document(measurement(reads=crawl))
    assert (v.outcome, v.method) == ("blocked", "throttled")
    assert v.evidence[0] == "body arrived at a crawl: goodput 131.1 kbit/s (49152 bytes in 2.75 s)"
    assert v.evidence[1].startswith("baseline: the control's fetch of the same URL")


@pytest.mark.parametrize("scheme", ["HTTP", "HTTPS"])
def test_oonis_throttling_qa_runs_are_throttled_without_a_trace(scheme: str) -> None:
    path = shared_data_dir() / "ooni" / "qa" / f"throttlingWith{scheme}.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    v = analyze_document(orjson.loads(path.read_bytes()))
    assert (v.outcome, v.method) == ("blocked", "throttled")
    assert "goodput not measurable (the measurement has no read events)" in v.evidence[1]


def test_the_controls_own_goodput_is_the_baseline_when_it_measured_one() -> None:
    doc = traced(POLICED, end=2.5)
    doc["test_keys"]["control"]["http_request"]["x_goodput_kbps"] = 96000.0
    v = analyze_document(doc)
    assert v.evidence[-1] == (
        "baseline: the control's fetch of the same URL got the whole page (2077 bytes)"
        " at 96000.0 kbit/s, 1500 times the probe's goodput"
    )


def test_without_a_control_body_there_is_no_baseline_and_the_evidence_says_so() -> None:
    doc = traced(POLICED, end=2.5)
    del doc["test_keys"]["control"]["http_request"]["body_length"]
    assert analyze_document(doc).evidence[-1] == (
        "baseline: none (the control's fetch has no body length)"
    )


def test_another_probes_trace_without_http_marks_starts_after_the_tls_handshake() -> None:
    # probe-cli's shape: reads of the whole connection, the handshake's marks, and the
    # request's own end time ``t``. A handshake then silence is a plain timeout.
    doc = traced([], start=None, handshake=((0.1, 1400), (0.12, 1400), (0.14, 1400), (0.16, 900)))
    doc["test_keys"]["network_events"].append(
        {"operation": "tls_handshake_done", "t": 0.17, "transaction_id": 1}
    )
    doc["test_keys"]["requests"][0]["t"] = 10.2
    assert transfer(doc["test_keys"], 1).shape == "silent"
    assert analyze_document(doc).method == "http.timeout"
    # The same reads after the handshake, with the request's end: a stall.
    doc["test_keys"]["network_events"][-1]["t"] = 0.05
    t = transfer(doc["test_keys"], 1)
    assert t.shape == "stall" and t.tail_gap is not None and t.tail_gap > 10


def test_reads_that_name_no_connection_are_the_requests_own() -> None:
    doc = traced(POLICED, start=None, end=None)
    for e in doc["test_keys"]["network_events"]:
        del e["transaction_id"]
    assert transfer(doc["test_keys"], 1).shape == "steady"
    assert analyze_document(doc).method == "throttled"


@pytest.mark.parametrize(
    ("reads", "case"),
    [
        (POLICED, "throttled.timeout"),
        (pace(8000, 0.6), "http.timeout.stall"),
        ([], "throttled.timeout.no_trace"),
    ],
)
def test_each_timed_out_case_is_the_rule_of_its_id(
    reads: list[tuple[float, int]], case: str
) -> None:
    doc = traced(reads, end=2.5)
    if not reads:  # no read events at all: another probe's measurement
        events = doc["test_keys"]["network_events"]
        events[:] = [e for e in events if e["operation"] != "read"]
    final = doc["test_keys"]["requests"][0]["response"]
    cut = judge_timed_out(doc["test_keys"], 1, final["code"], True)
    assert cut is not None and cut.case == case
    v = analyze_document(doc)
    rule = RULE_BY_ID[case]
    assert v.rule_id == case, v.evidence
    assert (v.method, v.confidence) == (rule.method, rule.confidence)
    assert (cut.method, cut.confidence) == (rule.method, rule.confidence)


def test_a_plain_timeout_is_the_fetch_rule() -> None:
    doc = traced([], handshake=((0.1, 1400), (0.2, 2600)), end=2.5, status=None)
    assert analyze_document(doc).rule_id == "fetch.http.timeout"
