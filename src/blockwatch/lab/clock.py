"""The virtual clock: which blocks and outages are in force in each round (pure).

Round ``i`` happens at ``start + i * round_every``. A policy in force at that time blocks
its sites on its networks unless the round escapes it: the draw is a pure function of
(seed, policy index, network, round index), so a run is reproducible and one network's
luck does not depend on how many others there are. The first policy in file order that
is in force (and not escaped) for a (network, site) wins. IP-level techniques (tcp.*)
also hit every other site on the same address: the censor drops packets, not names.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from blockwatch.lab.scenario import ORIGIN_NET, Scenario

IP_LEVEL = frozenset({"tcp.timeout", "tcp.reset"})


@dataclass(frozen=True, slots=True)
class Block:
    technique: str
    rate_bps: int = 0


@dataclass(frozen=True, slots=True)
class NetworkState:
    """What one censor does in one round."""

    down: bool  # the whole network is cut off (an outage, not censorship)
    blocks: tuple[tuple[str, Block], ...]  # (domain, block), sorted by domain

    def block_of(self, domain: str) -> Block | None:
        return dict(self.blocks).get(domain)


@dataclass(frozen=True, slots=True)
class Round:
    index: int
    at: datetime
    networks: dict[str, NetworkState]  # blocks of sites (by domain) and tools (by name)
    sites_down: frozenset[str]  # origins unreachable for everyone


def site_addresses(scenario: Scenario) -> dict[str, str]:
    """Each site's origin address: its own ``ip`` or the next free host of 10.66.0.0/24."""
    taken = {s.ip for s in scenario.sites if s.ip}
    free = (str(ORIGIN_NET[i]) for i in range(10, 250) if str(ORIGIN_NET[i]) not in taken)
    return {s.domain: s.ip or next(a for a in free if a not in taken) for s in scenario.sites}


def round_count(scenario: Scenario) -> int:
    span = scenario.end - scenario.start
    return -(-span // scenario.round_every)  # ceil: the last round starts before `end`


def rounds(scenario: Scenario, seed: int | None = None) -> Iterator[Round]:
    """Every round of the scenario with the state in force at its virtual time."""
    seed = scenario.seed if seed is None else seed
    addresses = site_addresses(scenario)
    for i in range(round_count(scenario)):
        yield state_at(scenario, i, seed, addresses)


def escaped(seed: int | None, policy: int, network: str, index: int, availability: float) -> bool:
    if availability <= 0:
        return False
    # String seeds are hashed with SHA-512 by `random`: stable across runs and platforms.
    return random.Random(f"{seed}:{policy}:{network}:{index}").random() < availability


def state_at(scenario: Scenario, index: int, seed: int | None, addresses: dict[str, str]) -> Round:
    at = scenario.start + index * scenario.round_every
    sites_down = frozenset(
        d for o in scenario.outages if o.sites and o.in_force(at) for d in o.sites
    )
    networks: dict[str, NetworkState] = {}
    for net in scenario.networks:
        down = any(
            not o.sites and net.name in o.networks and o.in_force(at) for o in scenario.outages
        )
        chosen: dict[str, Block] = {}
        for p_index, policy in enumerate(scenario.policies):
            if net.name not in policy.networks or not policy.in_force(at):
                continue
            if escaped(seed, p_index, net.name, index, policy.availability):
                continue
            # Sites by domain, tools by name (a tool's name has no dot: never a domain).
            for domain in (*policy.sites, *policy.tools):
                chosen.setdefault(domain, Block(policy.technique, policy.rate_bps))
        # Collateral damage of IP-level blocks: every name on a dropped address (a tool's
        # servers have addresses of their own).
        for domain, block in list(chosen.items()):
            if block.technique in IP_LEVEL and domain in addresses:
                for other, addr in addresses.items():
                    if addr == addresses[domain] and chosen.get(other) != block:
                        chosen[other] = block
        networks[net.name] = NetworkState(down, tuple(sorted(chosen.items())))
    return Round(index, at, networks, sites_down)
