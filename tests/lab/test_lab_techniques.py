"""Each censor technique, measured by the real probe in real namespaces and classified by
the analyzer: the lab's promise that truth and verdict speak the same language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.analysis.verdict import analyze_document, detects
from blockwatch.lab.run import RunSummary, run_scenario
from blockwatch.lab.scenario import TECHNIQUES
from blockwatch.lab.topology import skip_reason as lab_skip_reason
from summarykeys import summary_mismatch

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "techniques"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=lab_skip_reason() or ""),
]


@dataclass(frozen=True)
class Judged:
    truth: str
    input: str
    outcome: str
    method: str | None
    doc: dict[str, Any]


_RUNS: dict[str, tuple[RunSummary, list[Judged]]] = {}


def run_and_judge(name: str, tmp: Path) -> tuple[RunSummary, list[Judged]]:
    """Run scenarios/techniques/NAME.toml once per session; each measurement with its truth."""
    if name not in _RUNS:
        out = tmp / name
        summary = run_scenario(SCENARIOS / f"{name}.toml", out, db=out / "s.duckdb", progress=False)
        truth = {}
        for line in (out / "truth.jsonl").read_bytes().splitlines():
            row = orjson.loads(line)
            truth[(row["at"], row["probe_asn"], row["input"])] = row["truth"]
        judged = []
        for line in (out / "measurements.jsonl").read_bytes().splitlines():
            doc = orjson.loads(line)
            at = doc["measurement_start_time"].replace(" ", "T") + "Z"
            verdict = analyze_document(doc)
            key = (at, doc["probe_asn"], doc["input"])
            judged.append(Judged(truth[key], doc["input"], verdict.outcome, verdict.method, doc))
        assert len(judged) == len(truth) == summary.measurements
        _RUNS[name] = (summary, judged)
    return _RUNS[name]


@pytest.fixture(scope="module")
def lab_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


def _tk(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["test_keys"]


def _dns_failures(doc: dict[str, Any]) -> set[str | None]:
    return {q.get("failure") for q in _tk(doc)["queries"] if q.get("query_type") in ("A", "ANY")}


def _answers(doc: dict[str, Any]) -> set[str]:
    return {
        a.get("ipv4") for q in _tk(doc)["queries"] for a in q.get("answers") or [] if a.get("ipv4")
    }


def _tcp(doc: dict[str, Any]) -> set[str | None]:
    return {c["status"].get("failure") for c in _tk(doc)["tcp_connect"]}


def _tls(doc: dict[str, Any]) -> set[str | None]:
    return {h.get("failure") for h in _tk(doc)["tls_handshakes"]}


def _http(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return _tk(doc)["requests"]


def _slow_body(doc: dict[str, Any]) -> bool:
    """16 KiB or more of body, arriving below 64 KiB/s (after the first read's bytes)."""
    reads = sorted(
        (e for e in _tk(doc).get("network_events") or [] if e.get("operation") == "read"),
        key=lambda e: e["t"],
    )
    if len(reads) < 2:
        return False
    size = sum(e["num_bytes"] for e in reads)
    span = reads[-1]["t"] - reads[0]["t"]
    return size >= 16 * 1024 and (size - reads[0]["num_bytes"]) / span < 64 * 1024


# What the probe's own observations show for each technique (before any analysis).
OBSERVED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "dns.nxdomain": lambda d: "dns_nxdomain_error" in _dns_failures(d),
    "dns.bogon": lambda d: _answers(d) == {"127.0.0.1"},
    "dns.blockpage_ip": lambda d: _answers(d) == {"10.66.255.66"},
    "dns.timeout": lambda d: "generic_timeout_error" in _dns_failures(d) and not _answers(d),
    "tcp.timeout": lambda d: _tcp(d) == {"generic_timeout_error"},
    "tcp.reset": lambda d: _tcp(d) <= {"connection_refused", "connection_reset"},
    "tls.reset": lambda d: _tcp(d) == {None} and _tls(d) == {"connection_reset"},
    "tls.timeout": lambda d: _tcp(d) == {None} and _tls(d) == {"generic_timeout_error"},
    "tls.mitm": lambda d: _tls(d) == {"ssl_unknown_authority"},
    "http.blockpage": lambda d: "blockwatch-lab-censor" in str(_http(d)[0]["response"].get("body")),
    "http.reset": lambda d: _http(d)[0].get("failure") == "connection_reset",
    "http.timeout": lambda d: (
        _http(d)[0].get("failure") == "generic_timeout_error" and _http(d)[0]["response"]["code"]
    ),
    "throttled": _slow_body,
}


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_each_technique_is_observed_by_the_probe_and_named_by_the_analyzer(
    technique: str, lab_tmp: Path
) -> None:
    summary, judged = run_and_judge(technique, lab_tmp)
    blocked = [j for j in judged if j.truth == technique]
    assert len(blocked) >= 4
    unseen = [j.input for j in blocked if not OBSERVED[technique](j.doc)]
    assert not unseen, f"the probe did not observe {technique} on {unseen}"
    misnamed = [(j.input, j.outcome, j.method) for j in blocked if not detects(technique, j.method)]
    assert len(misnamed) <= 0.01 * len(blocked), misnamed
    clean = [j for j in judged if j.truth == "none"]
    assert clean
    false_alarms = [(j.input, j.method) for j in clean if j.outcome == "blocked"]
    assert not false_alarms, false_alarms
    assert summary.ingested == summary.measurements  # ingested into the store as it ran


@pytest.mark.parametrize("technique", ["dns.nxdomain", "tls.reset", "http.blockpage", "throttled"])
def test_a_blocked_and_an_unblocked_name_on_the_same_ip_are_told_apart(
    technique: str, lab_tmp: Path
) -> None:
    _, judged = run_and_judge(technique, lab_tmp)
    x = [j for j in judged if j.doc["input"].endswith("//x.com/") and j.truth == technique]
    tw = [j for j in judged if "twitter.com" in j.input]
    ips = {
        c["ip"]
        for j in tw + [j for j in judged if "x.com" in j.input and j.truth == "none"]
        for c in _tk(j.doc)["tcp_connect"]
    }
    assert ips == {"10.66.0.10"}  # both names live on one address
    assert x and all(detects(technique, j.method) for j in x)
    assert tw and all(j.outcome == "ok" for j in tw)


@pytest.mark.parametrize("technique", [*TECHNIQUES, "outage"])
def test_the_probes_summary_keys_are_the_analyzers_on_every_technique(
    technique: str, lab_tmp: Path
) -> None:
    # The lab's probe runs as its own process: its OONI keys, as stored, are what the
    # analysis module computes from the same test keys (one rule set).
    _, judged = run_and_judge(technique, lab_tmp)
    wrong = {j.input: m for j in judged if (m := summary_mismatch(j.doc))}
    assert wrong == {}


def test_an_outage_yields_down_or_inconclusive_never_blocked(lab_tmp: Path) -> None:
    _, judged = run_and_judge("outage", lab_tmp)
    outage = [j for j in judged if j.truth == "outage"]
    assert len(outage) >= 6
    assert {j.outcome for j in outage} <= {"down", "inconclusive"}
    assert "down" in {j.outcome for j in outage}  # the site outage: the control fails too
    assert all(j.outcome == "ok" for j in judged if j.truth == "none")


@pytest.mark.parametrize("technique", [*TECHNIQUES, "outage"])
def test_each_technique_run_meets_the_event_and_measurement_score_bars(
    technique: str, lab_tmp: Path
) -> None:
    # The events acceptance on real lab runs: precision/recall per method, every block found
    # within one round, availability within 0.1, no censorship during outages, and a lower
    # median detection delay than OONI's CUSUM.
    from blockwatch.lab.score import score_run

    summary, _ = run_and_judge(technique, lab_tmp)
    report = score_run(summary.out_dir)
    assert report.blocks, "every scenario has at least one true block"
    assert report.failures() == []
