"""`lab score` grades each verdict rule: precision and recall against the run's truth."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from rich.console import Console

from blockwatch.lab.score import score_run
from blockwatch.lab.scoreview import render_score
from blockwatch.times import parse_iso


def _run(tmp_path: Path, ooni_data: Path) -> Path:
    """OONI's QA runs re-stamped as 60 rounds: open, NXDOMAIN (rounds 20-39), open; the truth
    of rounds 35-39 says dns.timeout, so the NXDOMAIN rule is wrong on five rows."""
    qa = ooni_data / "qa"
    docs = {
        "none": orjson.loads((qa / "successWithHTTPS.json").read_bytes()),
        "dns.nxdomain": orjson.loads((qa / "dnsBlockingNXDOMAIN.json").read_bytes()),
    }
    t0, step = parse_iso("2024-02-10T00:00:00Z"), parse_iso("2024-02-10T06:00:00Z")
    measurements, truth = [], []
    for r in range(60):
        state = "dns.nxdomain" if 20 <= r < 40 else "none"
        at = t0 + r * (step - t0)
        doc = {k: v for k, v in docs[state].items() if k != "measurement_uid"}
        doc.update(measurement_start_time=at.strftime("%Y-%m-%d %H:%M:%S"), report_id=f"r{r}")
        measurements.append(doc)
        said = "dns.timeout" if 35 <= r < 40 else state
        truth.append(
            {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "network": "N", "probe_asn": doc["probe_asn"],
             "input": doc["input"], "domain": "www.example.com", "truth": said}
        )  # fmt: skip
    (tmp_path / "measurements.jsonl").write_bytes(b"\n".join(orjson.dumps(d) for d in measurements))
    (tmp_path / "truth.jsonl").write_bytes(b"\n".join(orjson.dumps(t) for t in truth))
    return tmp_path


def test_each_rule_gets_its_precision_and_recall(tmp_path: Path, ooni_data: Path) -> None:
    report = score_run(_run(tmp_path, ooni_data))
    rules = {r.rule_id: r for r in report.rules}
    assert set(rules) == {"page.match", "dns.nxdomain"}
    nx, match = rules["dns.nxdomain"], rules["page.match"]
    assert (nx.fired, nx.right, nx.relevant) == (20, 15, 15)
    assert (nx.precision, nx.recall) == (0.75, 1.0)
    assert (match.fired, match.right, match.relevant, match.precision) == (40, 40, 40, 1.0)
    console = Console(record=True, width=200)
    render_score(report, console)
    assert "per verdict rule" in console.export_text()
    data = json.loads(json.dumps(report.to_dict()))
    assert {r["rule_id"]: r["precision"] for r in data["rules"]} == {
        "dns.nxdomain": 0.75,
        "page.match": 1.0,
    }
