"""``blockwatch trace`` run inside the lab: build a scenario's network, put its censors in the
state of one moment, trace URLs from a vantage (``ip netns exec``), tear it all down.

A trace is stamped like the lab's other measurements: made at the round's virtual time, its
report id the lab's (``..._bwlab00042``), so pages and reports place it beside the run's
measurements and call it SIMULATED.

The trace runs as its own process in the vantage's namespace (``python -m blockwatch
trace``), as a user would run it there; this module never imports the probe.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from blockwatch.errors import LabError
from blockwatch.lab import topology
from blockwatch.lab.clock import Round, rounds
from blockwatch.lab.internet import AUTH_DNS
from blockwatch.lab.run import LabRun
from blockwatch.lab.scenario import Network, Scenario, load
from blockwatch.ooni.measurement import report_id

AsnDbWriter = Callable[[Path, dict[str, tuple[int, str]]], Path]
TRACE_SECONDS = 300  # one URL's trace, at most (a process that hangs is a bug)


@dataclass(frozen=True, slots=True)
class AsRange:
    prefix: str
    asn: int
    name: str


def as_ranges(scenario: Scenario, plan: topology.Plan) -> list[AsRange]:
    """The lab's routers by AS (pure): a network's own routers are in its AS, its censor and
    the routers after it in ``path.censor_asn`` when it sits on a transit network."""
    out = []
    for net, n in zip(scenario.networks, plan.networks, strict=True):
        transit = net.path.censor_asn or net.asn
        carrier = f"{net.name} transit" if net.path.censor_asn else net.name
        for k, ns in enumerate(n.routers, start=1):
            own = ns in n.before
            asn, name = (net.asn, net.name) if own else (transit, carrier)
            prefix = f"{n.gateway}/32" if k == 1 else f"{n.middle_link(k - 1)[0]}/32"
            out.append(AsRange(prefix, asn, name))
    return out


def last_blocked_at(scenario: Scenario, network: str, domain: str) -> datetime | None:
    """The virtual time of the last round in which ``network``'s censor blocks ``domain``
    (and the network is up), or None (pure)."""
    last = None
    for rnd in rounds(scenario, scenario.seed):
        state = rnd.networks.get(network)
        if state is not None and not state.down and state.block_of(domain) is not None:
            last = rnd.at
    return last


def stamp(doc: dict[str, Any], rnd: Round, country: str, asn: int) -> dict[str, Any]:
    """The trace as the lab's measurement of round ``rnd`` (its time, the lab's report id)."""
    when = rnd.at.strftime("%Y-%m-%d %H:%M:%S")
    test = str(doc.get("test_name") or "blockwatch_trace")
    rid = report_id(rnd.at, test, country, f"AS{asn}", f"bwlab{rnd.index:05d}")
    return {**doc, "measurement_start_time": when, "test_start_time": when, "report_id": rid}


def trace_in_lab(
    scenario_path: str | Path,
    network: str,
    urls: list[str],
    work: Path,
    at: datetime | None = None,
    extra: tuple[str, ...] = (),
    asn_db: AsnDbWriter | None = None,
) -> tuple[list[dict[str, Any]], LabRun]:
    """Trace ``urls`` from ``network``'s vantage with the censors as they are at ``at``
    (default: the first round); the measurements, and the (torn down) run for its plan.
    ``asn_db(path, {prefix: (asn, name)})`` writes an ASN database of the lab's routers,
    which the traces then use (``--asn-db``)."""
    scenario = load(scenario_path)
    names = [n.name for n in scenario.networks]
    if network not in names:
        raise LabError(f"no network {network!r} in {scenario_path} (it has {', '.join(names)})")
    plan = list(rounds(scenario, scenario.seed))
    chosen = plan[0] if at is None else next((r for r in reversed(plan) if r.at <= at), plan[0])
    run = LabRun(scenario, work, scenario.seed, None)
    net = scenario.networks[names.index(network)]
    vantage = run.plan.networks[names.index(network)].vantage
    if asn_db is not None:
        work.mkdir(parents=True, exist_ok=True)
        ranges = {r.prefix: (r.asn, r.name) for r in as_ranges(scenario, run.plan)}
        extra = (*extra, "--asn-db", str(asn_db(work / "routers-asn.mmdb", ranges)))
    docs = []
    run.start()
    try:
        run.apply(chosen)
        for url in urls:
            doc = _trace_one(vantage, url, scenario, net, extra)
            docs.append(stamp(doc, chosen, scenario.country, net.asn))
    finally:
        run.teardown()
    return docs, run


def _trace_one(
    vantage: str, url: str, scenario: Scenario, net: Network, extra: tuple[str, ...]
) -> dict[str, Any]:
    args = [
        "ip", "netns", "exec", vantage, sys.executable, "-m", "blockwatch", "trace", url,
        "--json", "--no-store", "--dns-server", AUTH_DNS, "--country", scenario.country,
        "--asn", f"AS{net.asn}", "--network-name", net.name, *extra,
    ]  # fmt: skip
    try:
        done = subprocess.run(args, capture_output=True, timeout=TRACE_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"trace of {url} took more than {TRACE_SECONDS} s") from exc
    if done.returncode != 0:
        raise LabError(f"trace of {url} failed: {done.stderr.decode(errors='replace')[-500:]}")
    doc: dict[str, Any] = orjson.loads(done.stdout)
    return doc
