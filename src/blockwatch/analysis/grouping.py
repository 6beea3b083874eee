"""Stable event IDs and the grouping of network events into country-level events.

A national block seen on four networks is one story with four chapters: one country-level
event per (country, domain) and stretch of time, listing each network's own span, rather than
OONI's one changepoint per cell.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from blockwatch.analysis.records import Event, EventKind, NetworkSpan, Verdict


def stable_event_id(
    kind: str, cc: str, asn: str | None, domain: str | None, start: datetime
) -> str:
    """Same inputs, same ID: re-running detection over the same data replaces, never adds."""
    text = "|".join((kind, cc, asn or "", domain or "", start.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def methods_of(verdicts: Iterable[Verdict]) -> tuple[str, ...]:
    """The blocking methods seen, most frequent first."""
    counts = Counter(v.method for v in verdicts if v.method)
    return tuple(m for m, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def merge_methods(events: Sequence[Event]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for e in events:
        for m in e.methods:
            seen.setdefault(m, None)
    return tuple(seen)


def _weighted_availability(events: Sequence[Event], weights: Sequence[int]) -> float:
    total = sum(weights)
    if total == 0:
        return round(sum(e.availability for e in events) / len(events), 3)
    return round(sum(e.availability * w for e, w in zip(events, weights, strict=True)) / total, 3)


def group_by_country(
    events: Sequence[Event], sizes: dict[str, int], join_gap: timedelta
) -> list[Event]:
    """Country-level events over the network events of each (country, kind, domain).

    Network events whose spans overlap or lie within ``join_gap`` of each other form one
    country event. ``sizes`` maps a network event's ID to the number of measurements it rests
    on (ok + blocked), the weight of its availability. Returns the country events followed by
    the network events, which now carry ``parent_event_id``.
    """
    groups: dict[tuple[EventKind, str, str | None], list[Event]] = {}
    for e in events:
        groups.setdefault((e.kind, e.probe_cc, e.domain), []).append(e)
    parents: list[Event] = []
    children: list[Event] = []
    for (kind, cc, domain), members in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
    ):
        members.sort(key=lambda e: (e.start, e.probe_asn or ""))
        cluster: list[Event] = []
        reach: datetime | None = None  # the cluster's latest end; None once one is ongoing
        for e in members:
            if cluster and reach is not None and e.start > reach + join_gap:
                _emit(kind, cc, domain, cluster, sizes, parents, children)
                cluster = []
            if not cluster:
                reach = e.end
            elif reach is not None:
                reach = None if e.end is None else max(reach, e.end)
            cluster.append(e)
        if cluster:
            _emit(kind, cc, domain, cluster, sizes, parents, children)
    return parents + children


def _emit(
    kind: EventKind,
    cc: str,
    domain: str | None,
    cluster: list[Event],
    sizes: dict[str, int],
    parents: list[Event],
    children: list[Event],
) -> None:
    start = min(e.start for e in cluster)
    end = None if any(e.end is None for e in cluster) else max(e.end for e in cluster if e.end)
    parent_id = stable_event_id(kind, cc, None, domain, start)
    measurements = tuple(sorted({m for e in cluster for m in e.measurements}))
    # Independent networks agreeing make the country event at least as sure as its surest part.
    doubt = 1.0
    for e in cluster:
        doubt *= 1.0 - e.confidence
    parents.append(
        Event(
            event_id=parent_id,
            kind=kind,
            probe_cc=cc,
            probe_asn=None,
            domain=domain,
            start=start,
            end=end,
            methods=merge_methods(cluster),
            availability=_weighted_availability(
                cluster, [sizes.get(e.event_id, 0) for e in cluster]
            ),
            confidence=round(1.0 - doubt, 3),
            measurements=measurements,
            networks=tuple(
                NetworkSpan(e.probe_asn or "", e.start, e.end, e.availability) for e in cluster
            ),
        )
    )
    children.extend(replace(e, parent_event_id=parent_id) for e in cluster)
