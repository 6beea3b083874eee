"""True blocks from a lab run's truth: windows, escapes, merges, and the truth-only fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blockwatch.lab.groundtruth import TruthRow, build_truth, true_blocks
from blockwatch.lab.scenario import parse

T0 = datetime(2024, 2, 10, tzinfo=UTC)
STEP = timedelta(hours=6)


def scenario(policies: list[dict]) -> object:
    return parse(
        {
            "scenario": {
                "name": "t",
                "country": "PK",
                "start": T0,
                "end": T0 + 40 * STEP,
                "round_every": "6h",
            },
            "network": [{"name": "N", "asn": 1}],
            "site": [
                {"domain": "x.com", "urls": ["https://x.com/"], "ip": "10.66.0.20"},
                {"domain": "t.co", "urls": ["https://t.co/"], "ip": "10.66.0.20"},
            ],
            "policy": policies,
        }
    )


def rows(schedule: str, domain: str = "x.com", technique: str = "tls.reset") -> list[TruthRow]:
    """'B' technique, '.' none, 'O' outage; one row per round."""
    word = {"B": technique, ".": "none", "O": "outage"}
    return [
        TruthRow(T0 + i * STEP, "N", "AS1", f"https://{domain}/", domain, word[c])
        for i, c in enumerate(schedule)
    ]


def policy(first: int, last: int, technique: str = "tls.reset", sites: tuple = ("x.com",),
           availability: float = 0.0) -> dict:  # fmt: skip
    return {
        "networks": ["N"],
        "sites": list(sites),
        "technique": technique,
        "start": T0 + first * STEP,
        "end": T0 + (last + 1) * STEP,
        "availability": availability,
    }


CASES = [
    # name, truth schedule, policies, expected (first, last, seen_first, seen_last, availability)
    ("plain block", "....BBBB....", [policy(4, 7)], [(4, 7, 4, 7, 0.0)]),
    (
        "escaped rounds at the edges stay in the window",
        "....."+".BB.B."+".....",
        [policy(5, 10, availability=0.3)],
        [(5, 10, 6, 9, 0.5)],
    ),
    ("back-to-back policies are one block", "..BBBBBB..", [policy(2, 4), policy(5, 7)],
     [(2, 7, 2, 7, 0.0)]),
    ("one round of access between policies is an escape", "..BBB.BBB..",
     [policy(2, 4), policy(6, 8)], [(2, 8, 2, 8, 1 / 7)]),
    ("two rounds of access split the block", "..BBB..BBB..", [policy(2, 4), policy(7, 9)],
     [(2, 4, 2, 4, 0.0), (7, 9, 7, 9, 0.0)]),
    ("outage rounds count for neither side", "..BBOOBB..", [policy(2, 7)], [(2, 7, 2, 7, 0.0)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "schedule", "policies", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_true_blocks_follow_the_policy_windows(
    name: str, schedule: str, policies: list[dict], expected: list[tuple]
) -> None:
    sc = scenario(policies)
    truth = build_truth(rows(schedule), sc)  # type: ignore[arg-type]
    got = [
        (b.first, b.last, b.seen_first, b.seen_last, b.availability)
        for b in true_blocks(truth, sc)  # type: ignore[arg-type]
    ]
    assert got == [(a, b, c, d, pytest.approx(e, abs=1e-3)) for a, b, c, d, e in expected]


def test_an_ip_level_block_on_a_shared_address_makes_a_collateral_block() -> None:
    sc = scenario([policy(3, 6, technique="tcp.timeout", sites=("t.co",))])
    both = rows("...BBBB...", "x.com", "tcp.timeout") + rows("...BBBB...", "t.co", "tcp.timeout")
    truth = build_truth(both, sc)  # type: ignore[arg-type]
    blocks = true_blocks(truth, sc)  # type: ignore[arg-type]
    assert sorted((b.domain, b.first, b.last) for b in blocks) == [("t.co", 3, 6), ("x.com", 3, 6)]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("..BB.B..BB.......BBB..", [(2, 9), (17, 19)]),  # gaps of up to 4 "none" rounds bridge
        ("..BB.....BB..", [(2, 3), (9, 10)]),  # five do not
        ("..BBOOOOOOBB..", [(2, 11)]),  # outage rounds are not access
    ],
)
def test_without_the_scenario_short_runs_of_access_are_bridged(
    schedule: str, expected: list[tuple[int, int]]
) -> None:
    truth = build_truth(rows(schedule), None)
    assert [(b.first, b.last) for b in true_blocks(truth, None)] == expected
