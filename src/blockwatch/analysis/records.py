"""The records analysis produces: verdicts and events (DESIGN §4, §5, §6.2).

These dataclasses are the schema: the store derives its tables from them and the
JSONL/CSV writers derive their columns from ``*_JSONL_FIELDS``. Change them here only.
Times are timezone-aware UTC datetimes. ASNs are OONI strings ("AS17557").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

Outcome = Literal["ok", "blocked", "down", "inconclusive"]
OUTCOMES: Final = ("ok", "blocked", "down", "inconclusive")

# The verdict methods, which are also the lab's technique names (DESIGN §4, §6.1).
METHODS: Final = (
    "dns.nxdomain",
    "dns.bogon",
    "dns.blockpage_ip",
    "dns.inconsistent",
    "dns.timeout",
    "tcp.timeout",
    "tcp.reset",
    "tls.reset",
    "tls.timeout",
    "tls.mitm",
    "http.blockpage",
    "http.reset",
    "http.timeout",
    "http.diff",
    "throttled",
    "dpi.handshake",
)

# The series names ("domains") of the tool tests (ooni/tools.py decides which is which).
TOOL_DOMAINS: Final = ("tor", "tor-obfs4", "openvpn", "signal", "telegram", "whatsapp")

EventKind = Literal["censorship", "outage"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One measurement's verdict for its target."""

    measurement_id: str
    measured_at: datetime
    probe_cc: str
    probe_asn: str
    input: str
    domain: str
    test_name: str
    outcome: Outcome
    method: str | None = None
    confidence: float = 0.0
    confirmed: bool = False
    evidence: tuple[str, ...] = ()
    fingerprint: str | None = None
    # OONI's own stored summary, kept so disagreements stay visible:
    # "dns" | "tcp_ip" | "http-failure" | "http-diff" | "false" | None (absent/null).
    ooni_blocking: str | None = None
    ooni_disagrees: bool = False
    # The id of the rule that decided (analysis/rules.py); None in stores written before it.
    rule_id: str | None = None


VERDICT_JSONL_FIELDS: Final = (
    "measurement_id",
    "measured_at",
    "probe_cc",
    "probe_asn",
    "input",
    "domain",
    "outcome",
    "method",
    "confidence",
    "confirmed",
)


@dataclass(frozen=True, slots=True)
class NetworkSpan:
    """One network's part in a country-level event."""

    probe_asn: str
    start: datetime
    end: datetime | None
    availability: float


@dataclass(frozen=True, slots=True)
class Event:
    """A maximal stretch in which a series was blocked (or a network was out).

    A network-level event has ``probe_asn`` set. A country-level event groups the
    network events of one domain: ``probe_asn`` is None and ``networks`` lists each
    network's own span. An outage event may have ``domain`` None (the whole network).
    """

    event_id: str
    kind: EventKind
    probe_cc: str
    probe_asn: str | None
    domain: str | None
    start: datetime
    end: datetime | None  # None: still ongoing at the end of the data
    methods: tuple[str, ...]
    availability: float
    confidence: float
    measurements: tuple[str, ...]
    networks: tuple[NetworkSpan, ...] = field(default=())
    parent_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Annotation:
    """A dated public fact shown beside the measurements: an order, a hearing, an election.

    ``probe_cc`` None: it concerns every country; ``domains`` empty: every domain there.
    ``end`` None: a single date (or an open-ended period when ``ongoing``).
    """

    annotation_id: str
    start: datetime
    end: datetime | None
    probe_cc: str | None
    domains: tuple[str, ...]
    title: str
    text: str = ""
    url: str | None = None
    source: str = ""


EVENT_JSONL_FIELDS: Final = (
    "event_id",
    "kind",
    "probe_cc",
    "probe_asn",
    "domain",
    "start",
    "end",
    "methods",
    "availability",
    "confidence",
    "measurements",
)
