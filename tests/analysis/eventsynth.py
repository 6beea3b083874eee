"""Synthetic verdict series for the event tests: a schedule in, Verdicts out.

A schedule is a string with one character per round: '.' open, 'B' blocked, 'D' down (the
control fails too), 'X' the probe and control both failed (inconclusive), ' ' no measurement.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from blockwatch.analysis.records import Verdict

T0 = datetime(2024, 2, 10, tzinfo=UTC)
ROUND = timedelta(hours=6)


def verdicts(
    schedule: str,
    *,
    domain: str = "x.com",
    asn: str = "AS17557",
    cc: str = "PK",
    method: str = "tls.reset",
    per_round: int = 1,
    start: datetime = T0,
    step: timedelta = ROUND,
) -> list[Verdict]:
    out: list[Verdict] = []
    for r, ch in enumerate(schedule):
        if ch == " ":
            continue
        for u in range(per_round):
            outcome = {".": "ok", "B": "blocked", "D": "down", "X": "inconclusive"}[ch]
            out.append(
                Verdict(
                    measurement_id=f"{cc}-{asn}-{domain}-{r}-{u}",
                    measured_at=start + r * step,
                    probe_cc=cc,
                    probe_asn=asn,
                    input=f"https://{domain}/{u}",
                    domain=domain,
                    test_name="web_connectivity",
                    outcome=outcome,  # type: ignore[arg-type]
                    method=method if ch == "B" else None,
                    confidence=0.9 if ch == "B" else 0.8,
                )
            )
    return out


def sporadic(rounds: int, block: tuple[int, int], availability: float, seed: int = 1) -> str:
    """A schedule open outside ``block`` (first, last round inclusive) and blocked inside
    except in rounds that escape with probability ``availability``."""
    rng = random.Random(seed)
    chars = []
    for r in range(rounds):
        inside = block[0] <= r <= block[1]
        chars.append("B" if inside and rng.random() >= availability else ".")
    return "".join(chars)


def combine(*parts: Iterable[Verdict]) -> list[Verdict]:
    return [v for part in parts for v in part]
