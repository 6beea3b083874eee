"""`blockwatch trace` from a lab vantage, against every in-path technique: the lab with a
path (scenarios/trace-path.toml) puts two routers between the vantage and the censor, the
censor on a transit AS, one router after it. Trace must name the censor's hop exactly."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from blockwatch.lab.clock import rounds
from blockwatch.lab.internet import AUTH_DNS
from blockwatch.lab.run import LabRun
from blockwatch.lab.scenario import load
from blockwatch.lab.topology import NetworkPlan
from blockwatch.lab.topology import skip_reason as lab_skip_reason
from blockwatch.probe.testing.mmdb import write_asn_db
from blockwatch.store import Store

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "trace-path.toml"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=lab_skip_reason() or ""),
]

# url -> (method, kind) of the tampering trace must find at the censor's hop
IN_PATH = {
    "https://x.com/": ("tls", "reset"),
    "http://youtube.com/": ("http", "blockpage"),
    "http://facebook.com/": ("http", "reset"),
    "https://instagram.com/": ("tls", "silence"),
    "https://telegram.org/": ("tcp", "reset"),
    "https://signal.org/": ("tcp", "silence"),
}
OPEN = ["https://twitter.com/", "http://twitter.com/", "https://example.org/"]


class Lab:
    def __init__(self, run: LabRun, geoip: Path) -> None:
        self.run = run
        self.geoip = geoip

    def network(self, name: str) -> NetworkPlan:
        index = [n.name for n in self.run.scenario.networks].index(name)
        return self.run.plan.networks[index]

    def trace(self, network: str, url: str, *extra: str) -> dict[str, Any]:
        args = [
            "ip", "netns", "exec", self.network(network).vantage, sys.executable, "-m",
            "blockwatch", "trace", url, "--json", "--wait", "0.5", "--max-ttl", "8",
            "--dns-server", AUTH_DNS, "--geoip-db", str(self.geoip), *extra,
        ]  # fmt: skip
        if "--db" not in extra:
            args.append("--no-store")
        done = subprocess.run(args, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
        doc: dict[str, Any] = orjson.loads(done.stdout)
        return doc


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    scenario = load(SCENARIO)
    tmp = tmp_path_factory.mktemp("trace")
    run = LabRun(scenario, tmp, None, None)
    transit = run.plan.networks[1]
    # The ISP's routers in AS64501, the censor and the router after it in AS64510.
    geoip = write_asn_db(
        tmp / "asn.mmdb",
        {
            "10.66.11.0/24": (64501, "Transit ISP"),
            "10.66.61.0/30": (64501, "Transit ISP"),
            "10.66.61.4/30": (64510, "Transit Carrier"),
            "10.66.61.8/30": (64510, "Transit Carrier"),
        },
    )
    assert transit.censor_hop == 3 and transit.censor_address == "10.66.61.5"
    run.start()
    try:
        run.apply(next(iter(rounds(scenario, 1))))
        yield Lab(run, geoip)
    finally:
        run.teardown()


@pytest.mark.parametrize("url", sorted(IN_PATH))
def test_trace_finds_the_censors_hop_behind_two_routers(lab: Lab, url: str) -> None:
    net = lab.network("Transit")
    keys = lab.trace("Transit", url)["test_keys"]
    hit = keys["tampering"]
    assert hit is not None, keys["summary"]
    assert (hit["method"], hit["kind"]) == IN_PATH[url]
    assert hit["hop"] == net.censor_hop == 3
    # Every router before it answered, with the plan's addresses.
    assert [h["address"] for h in keys["path"][:2]] == net.hop_addresses[:2]
    if (hit["method"], hit["kind"]) == ("tcp", "silence"):
        # The censor drops everything to the address: it never says time-exceeded.
        assert hit["address"] is None and hit["after"] == net.hop_addresses[1]
        assert hit["asn"] is None and hit["after_asn"] == "AS64501"
    else:
        assert hit["address"] == net.censor_address
        assert hit["asn"] == "AS64510" and hit["as_org"] == "Transit Carrier"
        assert "at hop 3 (10.66.61.5)" in hit["sentence"] and "AS64510" in hit["sentence"]
    assert not keys["resolver"]["lies"] and keys["endpoint_tampering"] is None


@pytest.mark.parametrize("url", OPEN)
def test_trace_finds_no_tampering_for_an_open_site(lab: Lab, url: str) -> None:
    keys = lab.trace("Transit", url)["test_keys"]
    assert keys["tampering"] is None and keys["tamperings"] == []
    assert keys["endpoint_tampering"] is None and keys["dns_tampering"] is None
    assert keys["path"][-1]["kind"] == "reached" and len(keys["path"]) == 5
    assert keys["summary"] == "no tampering found on the path"


@pytest.mark.parametrize(
    ("url", "answer", "truth", "why"),
    [
        ("https://wikipedia.org/", ("NXDOMAIN", []), "10.66.0.16", "answers NXDOMAIN"),
        (
            "https://tiktok.com/",
            ("NOERROR", ["10.66.255.66"]),
            "10.66.0.18",
            "a known blockpage address",
        ),
    ],
)
def test_a_lying_resolver_is_the_endpoint_not_a_hop(
    lab: Lab, url: str, answer: tuple[str, list[str]], truth: str, why: str
) -> None:
    net = lab.network("Transit")
    keys = lab.trace("Transit", url)["test_keys"]
    resolver = keys["endpoint_tampering"]
    assert resolver is not None and resolver["lies"] and why in resolver["why"]
    assert resolver["address"] == net.resolver and resolver["hop"] == net.censor_hop
    assert (resolver["rcode"], resolver["answers"]) == answer
    assert resolver["expected"] == [truth]
    # The outside server's answer is the truth: the path to it is clean.
    assert keys["tampering"] is None and keys["address"] == truth
    assert "the endpoint" in keys["summary"]


def test_the_censor_as_the_first_hop_on_a_network_without_a_path(lab: Lab) -> None:
    net = lab.network("Access")
    keys = lab.trace("Access", "https://x.com/")["test_keys"]
    assert keys["tampering"]["hop"] == 1 == net.censor_hop
    assert keys["tampering"]["address"] == net.gateway == net.censor_address


def test_a_trace_is_stored_as_a_measurement_through_the_pipeline(lab: Lab, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    doc = lab.trace("Transit", "https://x.com/", "--db", str(db), "--asn", "AS64501")
    with Store(db, read_only=True) as store:
        rows = store.cursor().execute("SELECT measurement_id, test_name FROM verdicts").fetchall()
        assert len(rows) == 1 and rows[0][1] == "blockwatch_trace"
        raw = store.raw_measurement(rows[0][0])
    assert raw is not None
    assert raw["test_keys"]["tampering"] == doc["test_keys"]["tampering"]
    assert raw["probe_asn"] == "AS64501"


def test_as_ranges_put_the_isps_routers_in_its_as_and_the_censor_in_the_transit_as() -> None:
    from blockwatch.lab.topology import plan
    from blockwatch.lab.tracing import as_ranges

    scenario = load(SCENARIO)
    ranges = {r.prefix: r.asn for r in as_ranges(scenario, plan(2, "t", [(0, 0), (2, 1)]))}
    assert ranges == {
        "10.66.10.1/32": 64500,  # Access: its censor is its own router
        "10.66.11.1/32": 64501,
        "10.66.61.1/32": 64501,
        "10.66.61.5/32": 64510,  # Transit's censor and the router after it
        "10.66.61.9/32": 64510,
    }


def test_lab_trace_builds_the_lab_traces_from_a_vantage_and_stores(
    cli: Any, tmp_path: Path
) -> None:
    db = tmp_path / "s.duckdb"
    args = ["lab", "trace", SCENARIO, "https://x.com/", "https://twitter.com/"]
    result = cli(*args, "--network", "Transit", "--out", tmp_path / "run", "--db", db)
    assert result.exit_code == 0, result.output
    assert "hop 3 (10.66.61.5) on the TLS packet, inside AS64510" in " ".join(result.output.split())
    assert "no tampering found on the path" in result.output
    lines = (tmp_path / "run" / "traces.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["probe_asn"] for x in lines] == ["AS64501", "AS64501"]
    with Store(db, read_only=True) as store:
        assert store.count("verdicts") == 2
    bad = cli("lab", "trace", SCENARIO, "https://x.com/", "--network", "Nope", "--no-store")
    assert bad.exit_code == 2 and "no network 'Nope'" in bad.output
