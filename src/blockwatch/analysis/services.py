"""Services: the unit people ask about ("is X blocked in Pakistan?"), over domain events.

A service is a name and the domains it is reached by (X = x.com, twitter.com, t.co,
*.twimg.com …), read from a small TOML table (``data/services.toml`` ships with the package).
``service_events`` groups the country's censorship events of a service's domains into one
story per service and country (pure); ``sentence`` says it in one line:
"X in PK: blocked on 3 of 3 networks (PTCL, Cybernet, Jazz) since 2024-02-17, intermittently."
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from blockwatch.analysis.records import Event
from blockwatch.errors import InputError

__all__ = [
    "DEFAULT_SERVICES",
    "INTERMITTENT",
    "Service",
    "ServiceEvent",
    "ServiceTable",
    "network_label",
    "sentence",
    "service_events",
]

DEFAULT_SERVICES: Final = Path(__file__).resolve().parent / "data" / "services.toml"
# An event whose blocked networks let this share of measurements through is "intermittent".
INTERMITTENT: Final = 0.05


@dataclass(frozen=True, slots=True)
class Service:
    """One service: its name, what kind it is, and its domain patterns (``*.twimg.com``
    matches every name under twimg.com; a plain name matches itself and its ``www.``)."""

    name: str
    kind: str
    domains: tuple[str, ...]

    def matches(self, domain: str) -> bool:
        return self.rank(domain) is not None

    def rank(self, domain: str) -> int | None:
        """The place of the first pattern matching ``domain`` (the table lists a service's
        main name first: x.com before *.twimg.com), or None."""
        d = domain.lower().rstrip(".")
        for i, pattern in enumerate(self.domains):
            if pattern.startswith("*."):
                base = pattern[2:]
                if d == base or d.endswith("." + base):
                    return i
            elif d in (pattern, "www." + pattern):
                return i
        return None


class ServiceTable:
    """The services, in file order; the first that matches a domain owns it."""

    def __init__(self, services: Iterable[Service]) -> None:
        self.services = tuple(services)
        self._cache: dict[str, Service | None] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> ServiceTable:
        """Read a services TOML (the shipped one when ``path`` is None); InputError names
        the file and the entry that is wrong."""
        where = Path(path) if path is not None else DEFAULT_SERVICES
        try:
            doc = tomllib.loads(where.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(str(where), f"cannot read services: {exc}") from exc
        return cls(_service(where, i, entry) for i, entry in enumerate(doc.get("service", [])))

    def of(self, domain: str | None) -> Service | None:
        if not domain:
            return None
        if domain not in self._cache:
            self._cache[domain] = next((s for s in self.services if s.matches(domain)), None)
        return self._cache[domain]

    def find(self, text: str) -> list[Service]:
        """Services a search names: by name (any case) or by one of their domains."""
        q = text.strip().lower()
        if not q:
            return []
        named = [s for s in self.services if s.name.lower() == q]
        return named or [s for s in self.services if s.matches(q)]


def _service(where: Path, index: int, entry: Any) -> Service:
    ctx = f"service #{index + 1}"
    if not isinstance(entry, dict):
        raise InputError(str(where), f"{ctx} is not a table")
    name, domains = entry.get("name"), entry.get("domains")
    if not isinstance(name, str) or not name.strip():
        raise InputError(str(where), f"{ctx} has no name")
    if (
        not isinstance(domains, list)
        or not domains
        or not all(isinstance(d, str) and d.strip() for d in domains)
    ):
        raise InputError(str(where), f"service {name!r} needs a list of domains")
    kind = entry.get("kind", "")
    return Service(name.strip(), str(kind), tuple(d.strip().lower().rstrip(".") for d in domains))


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """A service's latest episode of blocking in one country: the domain events that
    overlap, taken together. ``networks``: those blocked now (ongoing) or during it."""

    service: str
    probe_cc: str
    start: datetime
    end: datetime | None
    networks: tuple[str, ...]
    all_networks: tuple[str, ...]  # every network blocked at some time in the episode
    domains: tuple[str, ...]  # the service's main names first (its order in the table)
    availability: float
    methods: tuple[str, ...]
    event_ids: tuple[str, ...]  # in the order of their domains

    @property
    def ongoing(self) -> bool:
        return self.end is None

    @property
    def intermittent(self) -> bool:
        return self.availability >= INTERMITTENT


@dataclass(frozen=True, slots=True)
class _Span:
    network: str
    start: datetime
    end: datetime | None
    availability: float
    event: Event


def _spans(event: Event) -> list[_Span]:
    if event.probe_asn is not None:
        return [_Span(event.probe_asn, event.start, event.end, event.availability, event)]
    return [_Span(n.probe_asn, n.start, n.end, n.availability, event) for n in event.networks]


def _episodes(spans: list[_Span]) -> list[list[_Span]]:
    """Spans joined while they overlap (an open end overlaps everything after it)."""
    episodes: list[list[_Span]] = []
    reach: datetime | None = None
    for s in sorted(spans, key=lambda s: s.start):
        if episodes and (reach is None or s.start <= reach):
            episodes[-1].append(s)
            reach = None if reach is None or s.end is None else max(reach, s.end)
        else:
            episodes.append([s])
            reach = s.end
    return episodes


def _episode_event(service: Service, cc: str, spans: list[_Span]) -> ServiceEvent:
    open_spans = [s for s in spans if s.end is None]
    now = open_spans or spans
    ends = [s.end for s in spans if s.end is not None]

    def order(e: Event) -> tuple[int, str, str]:
        rank = service.rank(e.domain or "")
        return (len(service.domains) if rank is None else rank, e.domain or "", e.event_id)

    events = {e.event_id: e for e in sorted({s.event for s in spans}, key=order)}
    methods: dict[str, None] = {}
    for e in events.values():
        methods.update(dict.fromkeys(e.methods))
    return ServiceEvent(
        service=service.name,
        probe_cc=cc,
        start=min(s.start for s in spans),
        end=None if open_spans else max(ends),
        networks=tuple(sorted({s.network for s in now})),
        all_networks=tuple(sorted({s.network for s in spans})),
        domains=tuple(dict.fromkeys(e.domain for e in events.values() if e.domain)),
        availability=max(s.availability for s in now),
        methods=tuple(methods),
        event_ids=tuple(events),
    )


def service_events(events: Iterable[Event], table: ServiceTable) -> list[ServiceEvent]:
    """The latest episode of each (service, country) among top-level censorship events of
    the service's domains; ongoing ones first, then newest first."""
    spans: dict[tuple[Service, str], list[_Span]] = {}
    for e in events:
        if e.kind != "censorship" or e.parent_event_id is not None:
            continue
        service = table.of(e.domain)
        if service is not None:
            spans.setdefault((service, e.probe_cc), []).extend(_spans(e))
    found = [
        _episode_event(service, cc, _episodes(group)[-1])
        for (service, cc), group in spans.items()
        if group
    ]
    return sorted(found, key=lambda s: (not s.ongoing, -s.start.timestamp(), s.service))


def network_label(asn: str, names: Mapping[str, str]) -> str:
    """How a network is named to people: its name where known, else its AS number."""
    name = names.get(asn)
    return name if name and name != asn else asn


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sentence(event: ServiceEvent, measured: int, names: Mapping[str, str]) -> str:
    """The one-sentence answer: "X in PK: blocked on 3 of 3 networks (AS135407, Cybernet and
    PTCL) since 2024-02-17, intermittently." When the block was lifted on some networks, it
    says how wide it was: "…; at its widest on 3 (AS135407, Cybernet and PTCL)."
    ``measured``: networks measured in the country (0: unknown)."""
    n = len(event.networks)
    of = f" of {max(measured, n)}" if measured else ""
    nets = _join(sorted((network_label(a, names) for a in event.networks), key=str.casefold))
    noun = "network" if n == 1 and not of else "networks"
    when = (
        f"since {event.start:%Y-%m-%d}"
        if event.ongoing
        else f"from {event.start:%Y-%m-%d} to {event.end:%Y-%m-%d}"
    )
    how = ", intermittently" if event.intermittent else ""
    state = "blocked" if event.ongoing else "was blocked"
    widest = ""
    if len(event.all_networks) > n:  # some networks were let go: say how wide it was
        every = sorted((network_label(a, names) for a in event.all_networks), key=str.casefold)
        widest = f"; at its widest on {len(every)} ({_join(every)})"
    return (
        f"{event.service} in {event.probe_cc}: {state} on {n}{of} {noun} ({nets}) {when}{how}"
        f"{widest}."
    )
