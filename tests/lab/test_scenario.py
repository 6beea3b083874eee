"""Scenario files, the virtual clock and ground truth: pure logic, no namespaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blockwatch.errors import ScenarioError
from blockwatch.lab.clock import round_count, rounds, site_addresses
from blockwatch.lab.scenario import TECHNIQUES, check_measurable, load, parse
from blockwatch.lab.truth import truth_rows

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


def minimal(**extra: object) -> dict:
    data: dict = {
        "scenario": {
            "name": "t",
            "country": "PK",
            "start": datetime(2024, 1, 1, tzinfo=UTC),
            "end": datetime(2024, 1, 2, tzinfo=UTC),
            "round_every": "6h",
            "seed": 3,
        },
        "network": [{"name": "A", "asn": 1}, {"name": "B", "asn": 2}],
        "site": [
            {"domain": "x.com", "urls": ["https://x.com/", "http://x.com/"], "ip": "10.66.0.10"},
            {"domain": "twitter.com", "ip": "10.66.0.10"},
            {"domain": "wikipedia.org"},
        ],
    }
    data.update(extra)
    return data


def policy(**fields: object) -> dict:
    base = {
        "networks": ["A"],
        "sites": ["x.com"],
        "technique": "tls.reset",
        "start": datetime(2024, 1, 1, tzinfo=UTC),
    }
    base.update(fields)
    return base


def test_every_shipped_scenario_loads() -> None:
    # A scenario's dated context (NAME.annotations.toml, `blockwatch annotate import`) is not
    # a scenario.
    files = sorted(p for p in SCENARIOS.rglob("*.toml") if not p.name.endswith(".annotations.toml"))
    assert len(files) >= 13
    for path in files:
        load(path)


def test_there_is_one_technique_scenario_per_technique_name() -> None:
    names = {p.stem for p in (SCENARIOS / "techniques").glob("*.toml")}
    assert set(TECHNIQUES) <= names


def test_pk_2024_x_is_ten_weeks_of_six_hour_rounds_over_three_networks_and_ten_urls() -> None:
    sc = load(SCENARIOS / "pk-2024-x.toml")
    assert sc.end - sc.start >= timedelta(weeks=10)
    assert sc.round_every == timedelta(hours=6)
    assert len(sc.networks) >= 3 and len(sc.urls) >= 10
    techniques = {p.technique for p in sc.policies}
    assert len(techniques) >= 3
    truth = {r["truth"] for rnd in rounds(sc) for r in truth_rows(sc, rnd)}
    assert {"none", "outage"} <= truth


T0 = datetime(2024, 1, 1, tzinfo=UTC)
MISTAKES: list[tuple[dict, str]] = [
    ({"policy": [policy(technique="dns.injection")]}, "policy[0].technique"),
    ({"policy": [policy(networks=["Nowhere"])]}, "policy[0].networks"),
    ({"policy": [policy(sites=["example.net"])]}, "policy[0].sites"),
    ({"policy": [policy(availability=1.5)]}, "policy[0].availability"),
    ({"policy": [policy(end=datetime(2023, 1, 1, tzinfo=UTC))]}, "policy[0].end"),
    ({"policy": [policy(technique="throttled", params={"rate": "fast"})]}, "policy[0].params.rate"),
    ({"policy": [policy(params={"rate": "1kbit"})]}, "policy[0].params.rate"),
    ({"policy": [policy(colour="red")]}, "policy[0].colour"),
    ({"outage": [{"networks": ["A"], "sites": ["x.com"], "start": T0}]}, "outage[0].networks"),
    ({"network": [{"name": "A", "asn": 1}, {"name": "A", "asn": 2}]}, "network[1].name"),
    ({"site": [{"domain": "x.com", "urls": ["https://y.com/"]}]}, "site[0].urls[0]"),
    ({"site": [{"domain": "x.com", "ip": "192.168.1.1"}]}, "site[0].ip"),
    ({"lab": {"timeout": 60}}, "lab.timeout"),
    ({"network": [{"name": "A", "asn": 1, "path": 2}]}, "network[0].path"),
    ({"network": [{"name": "A", "asn": 1, "path": {"before": 9}}]}, "network[0].path.before"),
    ({"network": [{"name": "A", "asn": 1, "path": {"after": -1}}]}, "network[0].path.after"),
    (
        {"network": [{"name": "A", "asn": 1, "path": {"censor_asn": 0}}]},
        "network[0].path.censor_asn",
    ),
    ({"network": [{"name": "A", "asn": 1, "path": {"hops": 1}}]}, "network[0].path.hops"),
    ({"typo": 1}, "typo"),
]


@pytest.mark.parametrize(("change", "key"), MISTAKES)
def test_a_scenario_with_a_mistake_is_refused_with_the_key_and_the_reason(
    change: dict, key: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        parse(minimal(**change))
    assert info.value.key == key
    assert info.value.reason


def test_throttling_a_page_too_small_to_measure_is_refused_before_a_run() -> None:
    sc = parse(minimal(policy=[policy(technique="throttled")]))
    with pytest.raises(ScenarioError) as info:
        check_measurable(sc)
    assert info.value.key == "policy[0].sites"


def test_a_scenario_without_a_country_is_refused() -> None:
    data = minimal()
    del data["scenario"]["country"]
    with pytest.raises(ScenarioError) as info:
        parse(data)
    assert info.value.key == "scenario.country"


def test_a_file_that_is_not_toml_is_refused_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname = 1\n")
    with pytest.raises(ScenarioError, match="not valid TOML") as info:
        load(bad)
    assert info.value.key == str(bad)


def test_a_bad_round_duration_is_refused() -> None:
    data = minimal()
    data["scenario"]["round_every"] = "often"
    with pytest.raises(ScenarioError, match="round_every"):
        parse(data)


def test_rounds_follow_the_virtual_clock_and_policies_apply_only_in_their_window() -> None:
    later = datetime(2024, 1, 1, 12, tzinfo=UTC)
    sc = parse(minimal(policy=[policy(start=later)]))
    plan = list(rounds(sc))
    assert round_count(sc) == 4
    assert [r.at.hour for r in plan] == [0, 6, 12, 18]
    blocked = [r.networks["A"].block_of("x.com") is not None for r in plan]
    assert blocked == [False, False, True, True]
    assert all(r.networks["B"].block_of("x.com") is None for r in plan)


def test_sporadic_draws_are_reproducible_from_the_seed_and_change_with_it() -> None:
    data = minimal(policy=[policy(availability=0.5)])
    data["scenario"]["end"] = datetime(2024, 3, 1, tzinfo=UTC)
    sc = parse(data)

    def pattern(seed: int | None) -> list[bool]:
        return [r.networks["A"].block_of("x.com") is None for r in rounds(sc, seed)]

    assert pattern(None) == pattern(3)  # the scenario's own seed
    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    share = sum(pattern(7)) / len(pattern(7))
    assert 0.35 < share < 0.65


def test_truth_gives_sni_blocks_to_https_urls_only() -> None:
    sc = parse(minimal(policy=[policy()]))
    rows = truth_rows(sc, next(rounds(sc)))
    got = {(r["network"], r["input"]): r["truth"] for r in rows}
    assert got[("A", "https://x.com/")] == "tls.reset"
    assert got[("A", "http://x.com/")] == "none"
    assert got[("A", "https://twitter.com/")] == "none"
    assert got[("B", "https://x.com/")] == "none"
    assert set(rows[0]) == {"at", "network", "probe_asn", "input", "domain", "truth"}
    assert rows[0]["at"] == "2024-01-01T00:00:00Z" and rows[0]["probe_asn"] == "AS1"


def test_an_ip_level_block_also_hits_the_other_name_on_that_address() -> None:
    sc = parse(minimal(policy=[policy(technique="tcp.timeout")]))
    got = {(r["network"], r["domain"]): r["truth"] for r in truth_rows(sc, next(rounds(sc)))}
    assert got[("A", "twitter.com")] == "tcp.timeout"
    assert got[("A", "wikipedia.org")] == "none"


def test_an_outage_trumps_censorship_in_the_truth() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    six = timedelta(hours=6)
    outages = [
        {"networks": ["A"], "start": t0, "end": t0 + six},
        {"sites": ["wikipedia.org"], "start": t0 + six, "end": t0 + 2 * six},
    ]
    sc = parse(minimal(policy=[policy()], outage=outages))
    plan = list(rounds(sc))
    first = {(r["network"], r["input"]): r["truth"] for r in truth_rows(sc, plan[0])}
    assert first[("A", "https://x.com/")] == "outage"
    assert first[("B", "https://x.com/")] == "none"
    second = {(r["network"], r["input"]): r["truth"] for r in truth_rows(sc, plan[1])}
    assert second[("A", "https://x.com/")] == "tls.reset"
    assert second[("B", "https://wikipedia.org/")] == "outage"


def test_sites_without_an_address_get_distinct_ones_and_shared_addresses_stay_shared() -> None:
    addrs = site_addresses(parse(minimal()))
    assert addrs["x.com"] == addrs["twitter.com"] == "10.66.0.10"
    assert addrs["wikipedia.org"] not in ("10.66.0.10", "10.66.0.53")


def test_a_network_may_declare_routers_before_and_after_its_censor() -> None:
    scenario = parse(
        minimal(
            network=[
                {"name": "A", "asn": 1},
                {"name": "B", "asn": 2, "path": {"before": 2, "after": 1, "censor_asn": 9}},
            ]
        )
    )
    a, b = scenario.networks
    assert (a.path.before, a.path.after, a.path.censor_asn) == (0, 0, None)
    assert (b.path.before, b.path.after, b.path.censor_asn) == (2, 1, 9)


def test_the_plan_of_a_path_chains_routers_and_keeps_the_old_addresses_without_one() -> None:
    from blockwatch.lab.topology import plan

    p = plan(2, "t", [(0, 0), (2, 1)])
    plain, path = p.networks
    # No path: exactly the lab as it was (the censor is the vantage's router and resolver).
    assert plain.routers == [plain.censor] and plain.resolver == plain.gateway == "10.66.10.1"
    assert plain.censor_hop == 1 and len(p.namespaces) == 2 + 2 + 5
    assert path.routers == ["bwlabt-r1b1", "bwlabt-r1b2", "bwlabt-c1", "bwlabt-r1a1"]
    assert path.hop_addresses == ["10.66.11.1", "10.66.61.1", "10.66.61.5", "10.66.61.9"]
    assert (path.censor_hop, path.censor_address, path.resolver) == (3, "10.66.61.5", "10.66.61.5")
