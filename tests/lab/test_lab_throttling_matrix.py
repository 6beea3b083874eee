"""The throttling matrix (scenarios/throttling-matrix.toml) in the real lab: rate {64, 128,
256} kbit/s x page {32, 128, 256} KiB over http and https at the lab's default timeout, next
to a stall, the tcp and tls timeouts and unthrottled sites. Most throttled pages cannot
finish in time, so the verdict comes from the read trace. About 15 s on the build machine."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from blockwatch.analysis.verdict import analyze_document
from blockwatch.lab.run import run_scenario
from blockwatch.lab.score import score_run
from blockwatch.lab.topology import skip_reason as lab_skip_reason
from blockwatch.store import Filter, Store
from blockwatch.web import build_app

MATRIX = Path(__file__).resolve().parents[2] / "scenarios" / "throttling-matrix.toml"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=lab_skip_reason() or ""),
]


@dataclass(frozen=True)
class Cell:
    truth: str
    input: str
    outcome: str
    method: str | None
    evidence: tuple[str, ...]
    failure: str | None

    @property
    def key(self) -> str:
        """``https r64 p32``: scheme, rate and page of a matrix site."""
        scheme, _, host = self.input.partition("://")
        return " ".join([scheme, *host.split(".")[0].split("-")])


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Cell]]:
    out = tmp_path_factory.mktemp("matrix") / "run"
    run_scenario(MATRIX, out, db=out / "store.duckdb", progress=False)
    truth = {}
    for line in (out / "truth.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        truth[(row["at"], row["input"])] = row["truth"]
    cells = []
    for line in (out / "measurements.jsonl").read_bytes().splitlines():
        doc = orjson.loads(line)
        at = doc["measurement_start_time"].replace(" ", "T") + "Z"
        v = analyze_document(doc)
        failure = (
            doc["test_keys"]["requests"][0]["failure"] if doc["test_keys"]["requests"] else None
        )
        cells.append(
            Cell(truth[(at, doc["input"])], doc["input"], v.outcome, v.method, v.evidence, failure)
        )
    return out, cells


def test_throttling_is_found_at_every_rate_and_size_even_past_the_timeout(
    matrix: tuple[Path, list[Cell]],
) -> None:
    _, cells = matrix
    throttled = [c for c in cells if c.truth == "throttled"]
    assert len(throttled) == 3 * 3 * 2 * 4  # rates x pages x schemes x rounds
    found = Counter(c.key for c in throttled if c.method == "throttled")
    missed = [(c.input, c.outcome, c.method) for c in throttled if c.method != "throttled"]
    assert len(found) == 18 and len(missed) <= 0.05 * len(throttled), missed
    # Most of these transfers were cut by the timeout: the trace, not a finished body, spoke.
    assert sum(c.failure == "generic_timeout_error" for c in throttled) >= len(throttled) / 2
    for c in throttled:
        if c.method == "throttled":
            assert "kbit/s" in " ".join(c.evidence), c.evidence
            base = next(e for e in c.evidence if e.startswith("baseline: the control's fetch"))
            assert "times the probe's goodput" in base or "takes" in base, base


def test_no_throttled_verdict_on_timeouts_stalls_or_open_sites(
    matrix: tuple[Path, list[Cell]],
) -> None:
    _, cells = matrix
    others = [c for c in cells if c.truth != "throttled"]
    assert {c.truth for c in others} == {"none", "tcp.timeout", "tls.timeout", "http.timeout"}
    wrong = [(c.input, c.truth) for c in others if c.method == "throttled"]
    assert not wrong, wrong
    stalls = [c for c in others if c.truth == "http.timeout"]
    assert stalls and all(c.method == "http.timeout" for c in stalls)
    assert all("stalled" in " ".join(c.evidence) for c in stalls)
    assert all(c.outcome == "ok" for c in others if c.truth == "none")


def test_the_matrix_meets_the_labs_score_bars(matrix: tuple[Path, list[Cell]]) -> None:
    out, _ = matrix
    report = score_run(out)
    scores = {s.method: s for s in report.methods}
    assert scores["throttled"].recall >= 0.95 and scores["throttled"].precision >= 0.95
    assert report.failures() == []


async def test_the_goodput_reaches_the_api_and_the_measurement_page(
    matrix: tuple[Path, list[Cell]],
) -> None:
    # The evidence lines are the verdict's: stored, served by the API, listed on the page.
    out, _ = matrix
    with Store(out / "store.duckdb", read_only=True) as store:
        throttled = store.verdicts(Filter(method="throttled", limit=1))
    assert throttled
    mid = throttled[0].measurement_id
    app = build_app(out / "store.duckdb")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
        api = (await client.get(f"/api/measurements/{mid}")).json()
        page = (await client.get(f"/measurement/{mid}")).text
    app.state.reads.store.close()
    evidence = " ".join(api["verdict"]["evidence"])
    assert "kbit/s" in evidence and "baseline:" in evidence
    assert "kbit/s" in page
