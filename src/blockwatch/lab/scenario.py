"""Lab scenarios: the TOML file of DESIGN §6.1 as plain, validated data (no I/O but reading).

Every mistake is refused with ``ScenarioError(key, reason)``, ``key`` being a dotted path
into the file (``policy[2].technique``) so the author can find it.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from blockwatch.analysis.records import METHODS
from blockwatch.errors import ScenarioError
from blockwatch.lab.labtools import DPI, Tool, check_hosts, check_policy_tools, parse_tools

# The lab's techniques are the verdict methods (one vocabulary for truth and verdict), less
# those that name what a measurement saw rather than a censor's device.
OBSERVATION_ONLY = frozenset({"dns.inconsistent", "http.diff", "dpi.handshake"})
TECHNIQUES: tuple[str, ...] = tuple(m for m in METHODS if m not in OBSERVATION_ONLY)
DEFAULT_RATE = "256kbit"
MAX_NETWORKS = 16
MAX_SITES = 64
MAX_ROUNDS = 20_000
ORIGIN_NET = ipaddress.ip_network("10.66.0.0/24")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,40}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_RATE = re.compile(r"^(\d+)\s*(bit|kbit|mbit)$")


@dataclass(frozen=True, slots=True)
class NetworkPath:
    """Routers between the vantage and the censor (``before``) and between the censor and
    the internet (``after``); ``censor_asn``: the AS the censor's routers belong to when it
    sits on a transit network (default: the network's own)."""

    before: int = 0
    after: int = 0
    censor_asn: int | None = None


MAX_PATH_HOPS = 6


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    asn: int
    path: NetworkPath = NetworkPath()  # the default: the censor is the vantage's router


@dataclass(frozen=True, slots=True)
class Site:
    domain: str
    urls: tuple[str, ...]
    body_bytes: int = 4096
    ip: str | None = None  # sites naming the same ip share one origin address


@dataclass(frozen=True, slots=True)
class Policy:
    networks: tuple[str, ...]  # resolved: never "*"
    sites: tuple[str, ...]
    technique: str
    start: datetime
    end: datetime
    availability: float = 0.0
    rate_bps: int = 0  # throttled only: bits per second
    tools: tuple[str, ...] = ()  # the [[tool]]s it blocks (labtools.py)

    def in_force(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Outage:
    networks: tuple[str, ...]
    sites: tuple[str, ...]  # empty: the whole network is cut off
    start: datetime
    end: datetime

    def in_force(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    country: str
    start: datetime
    end: datetime
    round_every: timedelta
    seed: int | None
    networks: tuple[Network, ...]
    sites: tuple[Site, ...]
    policies: tuple[Policy, ...] = ()
    outages: tuple[Outage, ...] = ()
    timeout: float = 1.0  # the probe's dns/connect/tls limit in the lab, seconds
    source: str = field(default="-", compare=False)
    tools: tuple[Tool, ...] = ()  # [[tool]]: servers in the lab's internet, probed each round

    @property
    def urls(self) -> list[str]:
        return [u for s in self.sites for u in s.urls]

    def site(self, domain: str) -> Site:
        return next(s for s in self.sites if s.domain == domain)


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(str(p), f"cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(p), f"not valid TOML: {exc}") from exc
    return parse(data, source=str(p))


def parse(data: dict[str, Any], source: str = "-") -> Scenario:
    """Validate decoded TOML into a Scenario."""
    known = {"scenario", "network", "site", "policy", "outage", "lab", "tool"}
    _no_unknown(data, known, "")
    head = _table(data, "scenario")
    _no_unknown(head, {"name", "country", "start", "end", "round_every", "seed"}, "scenario")
    name = _str(head, "name", "scenario.name")
    country = _str(head, "country", "scenario.country")
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ScenarioError("scenario.country", "must be a two-letter upper-case country code")
    start = _time(head.get("start"), "scenario.start")
    end = _time(head.get("end"), "scenario.end")
    if end <= start:
        raise ScenarioError("scenario.end", "must be after scenario.start")
    every = parse_duration(head.get("round_every"), "scenario.round_every")
    if (end - start) / every > MAX_ROUNDS:
        raise ScenarioError("scenario.round_every", f"more than {MAX_ROUNDS} rounds")
    seed = head.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ScenarioError("scenario.seed", "must be an integer")

    networks = _networks(data.get("network"))
    sites = _sites(data.get("site"))
    net_names = [n.name for n in networks]
    domains = [s.domain for s in sites]
    tools = parse_tools(data.get("tool"))
    check_hosts(tools, domains)
    names = (net_names, domains, [t.name for t in tools])
    policies = tuple(
        _policy(p, f"policy[{i}]", names, start, end) for i, p in enumerate(_array(data, "policy"))
    )
    outages = tuple(
        _outage(o, f"outage[{i}]", net_names, domains, start, end)
        for i, o in enumerate(_array(data, "outage"))
    )
    lab = data.get("lab", {})
    if not isinstance(lab, dict):
        raise ScenarioError("lab", "must be a table")
    _no_unknown(lab, {"timeout"}, "lab")
    timeout = lab.get("timeout", 1.0)
    if not isinstance(timeout, int | float) or not 0.1 <= timeout <= 10:
        raise ScenarioError("lab.timeout", "must be a number of seconds between 0.1 and 10")
    return Scenario(
        name, country, start, end, every, seed, networks, sites, policies, outages,
        float(timeout), source, tools,
    )  # fmt: skip


def check_measurable(scenario: Scenario) -> None:
    """Refuse throttling a page too small to measure (checked before a lab run only)."""
    sizes = {s.domain: s.body_bytes for s in scenario.sites}
    for i, pol in enumerate(scenario.policies):
        small = [d for d in pol.sites if pol.technique == "throttled" and sizes[d] < 16384]
        if small:
            # Below 16 KiB a slow transfer cannot be told from a short one (the analyzer's
            # threshold): the block would be in force yet invisible.
            raise ScenarioError(
                f"policy[{i}].sites", f"throttled sites need body_bytes >= 16384: {small[0]}"
            )


def parse_duration(value: Any, key: str) -> timedelta:
    m = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if m is None or int(m.group(1)) == 0:
        raise ScenarioError(key, 'must be a duration like "6h", "30m", "1d"')
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return timedelta(**{unit: int(m.group(1))})


def parse_rate(value: Any, key: str) -> int:
    """ "256kbit" -> 256000 bits per second (tc's units)."""
    m = _RATE.match(value.strip().lower()) if isinstance(value, str) else None
    if m is None or int(m.group(1)) == 0:
        raise ScenarioError(key, 'must be a rate like "256kbit" or "1mbit"')
    return int(m.group(1)) * {"bit": 1, "kbit": 1000, "mbit": 1_000_000}[m.group(2)]


# -- pieces -----------------------------------------------------------------------------


def _networks(raw: Any) -> tuple[Network, ...]:
    items = _list(raw, "network")
    if not items or len(items) > MAX_NETWORKS:
        raise ScenarioError("network", f"need 1 to {MAX_NETWORKS} [[network]] tables")
    out: list[Network] = []
    for i, item in enumerate(items):
        key = f"network[{i}]"
        _no_unknown(item, {"name", "asn", "path"}, key)
        name = _str(item, "name", f"{key}.name")
        if not _NAME.match(name) or name == "*":
            raise ScenarioError(f"{key}.name", "letters, digits, space, . _ - (max 41)")
        asn = item.get("asn")
        if not isinstance(asn, int) or isinstance(asn, bool) or not 0 < asn < 2**32:
            raise ScenarioError(f"{key}.asn", "must be a positive AS number")
        if name in {n.name for n in out}:
            raise ScenarioError(f"{key}.name", f"network {name!r} is defined twice")
        out.append(Network(name, asn, _path(item.get("path"), f"{key}.path")))
    return tuple(out)


def _path(raw: Any, key: str) -> NetworkPath:
    if raw is None:
        return NetworkPath()
    if not isinstance(raw, dict):
        raise ScenarioError(key, "must be a table like { before = 2, after = 1 }")
    _no_unknown(raw, {"before", "after", "censor_asn"}, key)
    hops = []
    for side in ("before", "after"):
        n = raw.get(side, 0)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_PATH_HOPS:
            raise ScenarioError(
                f"{key}.{side}", f"must be a number of routers, 0 to {MAX_PATH_HOPS}"
            )
        hops.append(n)
    asn = raw.get("censor_asn")
    if asn is not None and (
        not isinstance(asn, int) or isinstance(asn, bool) or not 0 < asn < 2**32
    ):
        raise ScenarioError(f"{key}.censor_asn", "must be a positive AS number")
    return NetworkPath(hops[0], hops[1], asn)


def _sites(raw: Any) -> tuple[Site, ...]:
    items = _list(raw, "site")
    if not items or len(items) > MAX_SITES:
        raise ScenarioError("site", f"need 1 to {MAX_SITES} [[site]] tables")
    out: list[Site] = []
    for i, item in enumerate(items):
        key = f"site[{i}]"
        _no_unknown(item, {"domain", "urls", "body_bytes", "ip"}, key)
        domain = _str(item, "domain", f"{key}.domain").lower()
        if not _DOMAIN.match(domain):
            raise ScenarioError(f"{key}.domain", f"{domain!r} is not a domain name")
        if domain in {s.domain for s in out}:
            raise ScenarioError(f"{key}.domain", f"site {domain!r} is defined twice")
        urls = item.get("urls", [f"https://{domain}/"])
        if not isinstance(urls, list) or not urls or len(urls) > 8:
            raise ScenarioError(f"{key}.urls", "must be a list of 1 to 8 URLs")
        for j, url in enumerate(urls):
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or parts.port:
                raise ScenarioError(f"{key}.urls[{j}]", "must be an http(s) URL without a port")
            if parts.hostname != domain:
                raise ScenarioError(f"{key}.urls[{j}]", f"must be on the site's name {domain}")
        size = item.get("body_bytes", 4096)
        if not isinstance(size, int) or not 64 <= size <= 256 * 1024:
            raise ScenarioError(f"{key}.body_bytes", "must be an integer from 64 to 262144")
        ip = item.get("ip")
        if ip is not None:
            try:
                addr = ipaddress.ip_address(ip)
            except (ValueError, TypeError) as exc:
                raise ScenarioError(f"{key}.ip", "must be an IPv4 address") from exc
            if addr not in ORIGIN_NET or str(addr).endswith((".0", ".53", ".255")):
                raise ScenarioError(f"{key}.ip", f"must be a host in {ORIGIN_NET} (not .53)")
        out.append(Site(domain, tuple(urls), size, ip))
    return tuple(out)


def _policy(
    raw: Any, key: str, names: tuple[list[str], list[str], list[str]], s0: datetime, s1: datetime
) -> Policy:
    if not isinstance(raw, dict):
        raise ScenarioError(key, "must be a table")
    known = {"networks", "sites", "tools", "technique", "start", "end", "availability", "params"}
    _no_unknown(raw, known, key)
    nets, domains, tool_names = names
    networks = _names(raw.get("networks"), nets, f"{key}.networks", "network")
    # A policy blocks sites, tools (labtools.py), or both.
    tools = _names(raw["tools"], tool_names, f"{key}.tools", "tool") if "tools" in raw else ()
    sites = (
        () if tools and "sites" not in raw
        else _names(raw.get("sites"), domains, f"{key}.sites", "site")
    )  # fmt: skip
    technique = raw.get("technique")
    if technique not in TECHNIQUES and not (tools and technique == DPI):
        raise ScenarioError(
            f"{key}.technique", f"{technique!r} is not one of {', '.join(TECHNIQUES)}"
        )
    check_policy_tools(tools, technique, sites, key)
    start, end = _window(raw, key, s0, s1)
    availability = raw.get("availability", 0.0)
    if not isinstance(availability, int | float) or not 0 <= availability < 1:
        raise ScenarioError(f"{key}.availability", "must be a number in [0, 1)")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise ScenarioError(f"{key}.params", "must be a table")
    allowed = {"rate"} if technique == "throttled" else set()
    _no_unknown(params, allowed, f"{key}.params")
    rate = parse_rate(params.get("rate", DEFAULT_RATE), f"{key}.params.rate") if allowed else 0
    if technique == "throttled" and rate >= 512_000:
        raise ScenarioError(f"{key}.params.rate", "must be below 512kbit to count as throttled")
    return Policy(networks, sites, technique, start, end, float(availability), rate, tools)


def _outage(
    raw: Any, key: str, nets: list[str], domains: list[str], s0: datetime, s1: datetime
) -> Outage:
    if not isinstance(raw, dict):
        raise ScenarioError(key, "must be a table")
    _no_unknown(raw, {"networks", "sites", "start", "end"}, key)
    if "sites" in raw:
        # A site outage takes the origin down for everyone, the control included.
        sites = _names(raw["sites"], domains, f"{key}.sites", "site")
        if raw.get("networks", ["*"]) != ["*"]:
            raise ScenarioError(
                f"{key}.networks", 'a site outage hits every network: omit or ["*"]'
            )
        networks = tuple(nets)
    else:
        sites = ()
        networks = _names(raw.get("networks"), nets, f"{key}.networks", "network")
    start, end = _window(raw, key, s0, s1)
    return Outage(networks, sites, start, end)


def _window(raw: dict[str, Any], key: str, s0: datetime, s1: datetime) -> tuple[datetime, datetime]:
    start = _time(raw.get("start"), f"{key}.start")
    end = _time(raw["end"], f"{key}.end") if "end" in raw else s1
    if start >= s1:
        raise ScenarioError(f"{key}.start", "starts after the scenario ends")
    if end <= start:
        raise ScenarioError(f"{key}.end", "must be after its start")
    if end <= s0:
        raise ScenarioError(f"{key}.end", "ends before the scenario starts")
    return start, end


def _names(raw: Any, known: list[str], key: str, what: str) -> tuple[str, ...]:
    if raw == ["*"]:
        return tuple(known)
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise ScenarioError(key, f'must be a non-empty list of {what} names (or ["*"])')
    names = [n.lower() if what == "site" else n for n in raw]
    for name in names:
        if name not in known:
            raise ScenarioError(key, f"unknown {what} {name!r}")
    return tuple(dict.fromkeys(names))


def _time(value: Any, key: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScenarioError(key, "needs a time zone (write it with Z)")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ScenarioError(key, "must be a TOML date-time like 2024-02-17T12:00:00Z")


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ScenarioError(key, "missing [scenario] table" if value is None else "must be a table")
    return value


def _array(data: dict[str, Any], key: str) -> list[Any]:
    return _list(data.get(key, []), key)


def _list(raw: Any, key: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise ScenarioError(key, f"must be an array of tables ([[{key}]])")
    return raw


def _str(table: dict[str, Any], name: str, key: str) -> str:
    value = table.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(key, "missing" if value is None else "must be a non-empty string")
    return value.strip()


def _no_unknown(table: dict[str, Any], known: set[str], key: str) -> None:
    for name in table:
        if name not in known:
            where = f"{key}.{name}" if key else name
            raise ScenarioError(where, f"unknown key (expected one of: {', '.join(sorted(known))})")
