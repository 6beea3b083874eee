"""A lab trace is the lab's measurement of a round: made at its virtual time, under the lab's
report id (so pages and reports call it SIMULATED); `make demo` traces at the last round
whose censor blocks the domain on the network."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from blockwatch.lab.clock import rounds
from blockwatch.lab.scenario import load
from blockwatch.lab.tracing import last_blocked_at, stamp
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.web.provenance import origin_of
from tracedocs import finding, trace_doc

PK_2024_X = Path(__file__).resolve().parents[2] / "scenarios" / "pk-2024-x.toml"


def test_the_demo_traces_at_the_last_round_blocking_the_domain_on_the_network() -> None:
    scenario = load(PK_2024_X)
    at = last_blocked_at(scenario, "PTCL", "x.com")
    plan = list(rounds(scenario))
    blocked = [r.at for r in plan if r.networks["PTCL"].block_of("x.com") is not None]
    assert at == max(blocked) and at > datetime(2024, 4, 1, tzinfo=UTC)
    assert last_blocked_at(scenario, "PTCL", "wikipedia.org") is None
    assert last_blocked_at(scenario, "nowhere", "x.com") is None


def test_a_lab_trace_is_stamped_at_the_rounds_virtual_time_under_the_labs_report_id() -> None:
    scenario = load(PK_2024_X)
    rnd = list(rounds(scenario))[42]
    real = trace_doc(datetime(2026, 11, 30, tzinfo=UTC), "PK", "AS17557", "https://x.com/",
                     [finding(3, "10.66.10.5", "AS17557", "PTCL")])  # fmt: skip
    doc = stamp(real, rnd, "PK", 17557)
    m = parse_measurement(doc, "trace", 1)
    assert m.measured_at == rnd.at
    assert doc["report_id"].endswith("_blockwatchtrace_PK_17557_n1_bwlab00042")
    assert origin_of(doc) == "lab" and doc["test_keys"] == real["test_keys"]
