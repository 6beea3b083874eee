"""Every verdict rule as data: a stable id, the verdict it gives and why (one table).

``verdict.py`` decides which rule fires; this table says what each one means. A verdict
stores the id of the rule that made it (``Verdict.rule_id``), so a re-analysis can say which
rule moved and the lab's score can grade each rule. Ids are stable: a rule whose meaning
changes gets a new id, a retired id is never reused. docs/analysis.md shows this table
(a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from blockwatch.analysis.records import METHODS, OUTCOMES, Outcome

__all__ = ["RULES", "RULE_BY_ID", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One verdict rule: what it concludes, how sure it is, and why in one line."""

    id: str
    outcome: Outcome
    method: str | None
    confidence: float
    rationale: str


# -- input and control ----------------------------------------------------------------
NOT_ANALYSED = Rule(
    "input.not_analysed",
    "inconclusive",
    None,
    0.0,
    "only web_connectivity and the tool tests have rules yet",
)
NO_TEST_KEYS = Rule(
    "input.no_test_keys", "inconclusive", None, 0.0, "a measurement without test keys says nothing"
)
NO_CONTROL_BLOCKPAGE = Rule(
    "control.missing.blockpage",
    "blocked",
    "http.blockpage",
    0.9,
    "without a control, a known blockpage in the page is still proof",
)
NO_CONTROL_VALID_TLS = Rule(
    "control.missing.valid_tls",
    "ok",
    None,
    0.6,
    "without a control, a page fetched over TLS with the site's valid certificate is the site",
)
NO_CONTROL = Rule(
    "control.missing", "inconclusive", None, 0.0, "no control: nothing to compare the probe with"
)
# -- known blockpages -----------------------------------------------------------------
DNS_FINGERPRINT = Rule(
    "dns.fingerprint",
    "blocked",
    "dns.blockpage_ip",
    0.95,
    "the probe's resolver answered a known blockpage address (of this country) the control did not",
)
PAGE_FINGERPRINT_DNS = Rule(
    "page.fingerprint.dns",
    "blocked",
    "dns.blockpage_ip",
    0.95,
    "a known blockpage came from an address only the probe's inconsistent resolver gave",
)
PAGE_FINGERPRINT = Rule(
    "page.fingerprint",
    "blocked",
    "http.blockpage",
    0.95,
    "a header or body matches a known blockpage fingerprint (of this country)",
)
PAGE_KNOWN_NOT_CENSORSHIP = Rule(
    "page.known_not_censorship",
    "ok",
    None,
    0.6,
    "the page matches a known page that is not censorship (a CDN's challenge, a parking page)",
)
# -- DNS ------------------------------------------------------------------------------
DNS_FAILED_BOTH = Rule(
    "dns.failed_both", "down", None, 0.8, "the probe's resolver and the control both failed"
)
DNS_NXDOMAIN = Rule(
    "dns.nxdomain",
    "blocked",
    "dns.nxdomain",
    0.85,
    "the probe's resolver says the name does not exist; the control resolved it",
)
DNS_TIMEOUT = Rule(
    "dns.timeout",
    "blocked",
    "dns.timeout",
    0.6,
    "the probe's resolver never answered; the control resolved the name",
)
DNS_FAILED = Rule(
    "dns.failed",
    "blocked",
    "dns.inconsistent",
    0.6,
    "the probe's resolver failed otherwise; the control resolved the name",
)
DNS_BOGON = Rule(
    "dns.bogon",
    "blocked",
    "dns.bogon",
    0.9,
    "the probe's resolver answered a private or reserved address the control never gives",
)
DNS_GHOST = Rule(
    "dns.ghost",
    "blocked",
    "dns.inconsistent",
    0.6,
    "the probe's resolver answered a name the control finds does not exist",
)
# -- the page against the control's ----------------------------------------------------
PAGE_CONTROL_FAILED_DNS = Rule(
    "page.control_failed.dns",
    "blocked",
    "dns.inconsistent",
    0.6,
    "the control fetched nothing, and the probe's page came from inconsistent DNS",
)
PAGE_CONTROL_FAILED = Rule(
    "page.control_failed",
    "inconclusive",
    None,
    0.2,
    "the probe got a page but the control fetched nothing to compare it with",
)
THROTTLED_BODY = Rule(
    "throttled.slow_body",
    "blocked",
    "throttled",
    0.8,
    "the body arrived at a crawl (below 64 KiB/s over 16 KiB or more) while the control got it",
)
PAGE_DIFF_DNS = Rule(
    "page.diff.dns",
    "blocked",
    "dns.inconsistent",
    0.75,
    "the page differs from the control's and came from inconsistent DNS",
)
PAGE_DIFF = Rule(
    "page.diff",
    "blocked",
    "http.diff",
    0.5,
    "the page differs from the control's (OONI's status, body, header and title rules)",
)
PAGE_MATCH = Rule("page.match", "ok", None, 0.8, "the page matches the control's")
PAGE_MATCH_DNS = Rule(
    "page.match.dns_excused",
    "ok",
    None,
    0.6,
    "DNS differed from the control's, but the page from that address (or TLS) proved the site",
)
DNS_INCONSISTENT_FAILED = Rule(
    "dns.inconsistent.connect_failed",
    "blocked",
    "dns.inconsistent",
    0.7,
    "the page matched via other addresses; connecting to the odd ones the probe's DNS gave failed",
)
DNS_INCONSISTENT = Rule(
    "dns.inconsistent.unproven",
    "blocked",
    "dns.inconsistent",
    0.5,
    "the probe's DNS gave addresses the control never gives and nothing proved them",
)
# -- a failed fetch -------------------------------------------------------------------
FETCH_NOTHING_DOWN = Rule(
    "fetch.nothing.control_failed",
    "down",
    None,
    0.5,
    "the probe fetched nothing with no error, and the control failed too",
)
FETCH_NOTHING = Rule(
    "fetch.nothing", "inconclusive", None, 0.0, "the probe fetched nothing and recorded no error"
)
FETCH_DOWN = Rule(
    "fetch.failed.control_failed",
    "down",
    None,
    0.7,
    "the fetch failed and the control's failed too",
)
FETCH_FAILED_DNS = Rule(
    "fetch.failed.dns",
    "blocked",
    "dns.inconsistent",
    0.75,
    "the fetch failed, from addresses only the probe's inconsistent DNS gave",
)
FETCH_ENDPOINT_DOWN = Rule(
    "fetch.endpoint_down",
    "down",
    None,
    0.6,
    "the control could not connect to the endpoint that failed either",
)
BROKEN_REDIRECT = Rule(
    "fetch.broken_redirect",
    "down",
    None,
    0.6,
    "the site itself answered with a redirect whose Location cannot be followed",
)
# A timed-out exchange's read trace (throttling.judge_timed_out: the case is the rule id).
THROTTLED_TIMEOUT = Rule(
    "throttled.timeout",
    "blocked",
    "throttled",
    0.75,
    "a steady crawl (4 reads or more, below 64 KiB/s, no stall) was still arriving at the timeout",
)
THROTTLED_TIMEOUT_NO_TRACE = Rule(
    "throttled.timeout.no_trace",
    "blocked",
    "throttled",
    0.5,
    "the timeout cut a body after its status line; the probe recorded no reads to time it by",
)
HTTP_TIMEOUT_STALL = Rule(
    "http.timeout.stall",
    "blocked",
    "http.timeout",
    0.75,
    "bytes came, then none for 1 s or more (6 times the usual gap) up to the timeout: a stall",
)
FETCH_UNEXPLAINED = Rule(
    "fetch.failed.unexplained",
    "inconclusive",
    None,
    0.2,
    "the fetch failed in a way that is not evidence of interference (a probe bug, a bad URL)",
)


def _fetch(method: str, rationale: str) -> Rule:
    return Rule(f"fetch.{method}", "blocked", method, 0.75, rationale)


# The failed step's method (stages.method_for), while the control fetched the page.
FETCH_FAILED: Final = {
    r.method: r
    for r in (
        _fetch("dns.nxdomain", "a redirect target's name does not exist for the probe"),
        _fetch("dns.timeout", "a redirect target's lookup timed out for the probe"),
        _fetch("dns.inconsistent", "a redirect target's lookup failed for the probe"),
        _fetch("tcp.timeout", "the probe's connect timed out or was unreachable"),
        _fetch("tcp.reset", "the probe's connect was refused or reset"),
        _fetch("tls.reset", "the probe's TLS handshake was reset or cut"),
        _fetch("tls.timeout", "the probe's TLS handshake timed out"),
        _fetch("tls.mitm", "the probe was shown a certificate that is not the site's"),
        _fetch("http.reset", "the probe's HTTP exchange was reset or cut"),
        _fetch("http.timeout", "the probe's HTTP exchange timed out"),
    )
}


# -- the tool tests: tor, vanilla_tor, openvpn, signal, telegram, whatsapp (tools.py) ----
TOOL_OK = Rule("tool.ok", "ok", None, 0.9, "every endpoint of the tool answered")
TOOL_SOME_OK = Rule(
    "tool.some_ok",
    "ok",
    None,
    0.8,
    "one working relay or server is enough for a circumvention tool to get through",
)
TOOL_DOWN = Rule(
    "tool.down", "down", None, 0.6, "every endpoint refused the connection: nothing listens there"
)
TOOL_PARTIAL = Rule(
    "tool.partial",
    "inconclusive",
    None,
    0.0,
    "some of the app's endpoints failed, most answered: not enough to call it blocked",
)
TOOL_NO_TARGETS = Rule(
    "tool.no_targets", "inconclusive", None, 0.0, "no endpoint of the tool was measured"
)
TOOL_UNEXPLAINED = Rule(
    "tool.unexplained",
    "inconclusive",
    None,
    0.0,
    "the endpoints failed in a way that names no censor's method",
)
TOR_BOOTSTRAP_OK = Rule("tor.bootstrap.ok", "ok", None, 0.9, "tor bootstrapped to 100%")
TOR_BOOTSTRAP_NO_RELAY = Rule(
    "tor.bootstrap.no_relay",
    "blocked",
    "tcp.timeout",
    0.5,
    "tor timed out before it connected to any relay (addresses blocked, or the relays down)",
)
TOR_BOOTSTRAP_STALLED = Rule(
    "tor.bootstrap.stalled",
    "inconclusive",
    None,
    0.0,
    "tor reached a relay but did not finish bootstrapping",
)


def _tool(method: str, rationale: str) -> Rule:
    return Rule(f"tool.{method}", "blocked", method, 0.85, rationale)


# The method of the endpoints' failures (tools.stage_method).
TOOL_FAILED: Final = {
    r.method: r
    for r in (
        _tool("dns.nxdomain", "the app's names do not exist for the probe"),
        _tool("dns.bogon", "the app's names resolve to loopback or unspecified addresses"),
        _tool("dns.timeout", "the app's name lookups timed out"),
        _tool("dns.inconsistent", "the app's name lookups failed"),
        _tool("tcp.timeout", "connects to the tool's addresses time out (address blocking)"),
        _tool("tcp.reset", "connects to the tool's addresses are reset"),
        _tool("tls.reset", "TLS handshakes with the tool's endpoints are reset or cut (SNI)"),
        _tool("tls.timeout", "TLS handshakes with the tool's endpoints time out"),
        _tool("tls.mitm", "an endpoint showed a certificate its CA did not sign"),
        _tool("http.reset", "requests to the app's front-ends are reset or cut"),
        _tool("http.timeout", "requests to the app's front-ends time out"),
        _tool("dpi.handshake", "the transport worked but the tool's own handshake got no answer"),
    )
}

RULES: Final[tuple[Rule, ...]] = (
    NOT_ANALYSED,
    NO_TEST_KEYS,
    DNS_FINGERPRINT,
    NO_CONTROL_BLOCKPAGE,
    NO_CONTROL_VALID_TLS,
    NO_CONTROL,
    PAGE_FINGERPRINT_DNS,
    PAGE_FINGERPRINT,
    DNS_FAILED_BOTH,
    DNS_NXDOMAIN,
    DNS_TIMEOUT,
    DNS_FAILED,
    DNS_BOGON,
    DNS_GHOST,
    PAGE_CONTROL_FAILED_DNS,
    PAGE_CONTROL_FAILED,
    THROTTLED_BODY,
    PAGE_KNOWN_NOT_CENSORSHIP,
    PAGE_DIFF_DNS,
    PAGE_DIFF,
    PAGE_MATCH,
    PAGE_MATCH_DNS,
    DNS_INCONSISTENT_FAILED,
    DNS_INCONSISTENT,
    FETCH_NOTHING_DOWN,
    FETCH_NOTHING,
    FETCH_DOWN,
    FETCH_FAILED_DNS,
    FETCH_ENDPOINT_DOWN,
    BROKEN_REDIRECT,
    THROTTLED_TIMEOUT,
    THROTTLED_TIMEOUT_NO_TRACE,
    HTTP_TIMEOUT_STALL,
    *FETCH_FAILED.values(),
    FETCH_UNEXPLAINED,
    TOOL_OK,
    TOOL_SOME_OK,
    TOOL_DOWN,
    TOOL_PARTIAL,
    TOOL_NO_TARGETS,
    TOOL_UNEXPLAINED,
    *TOOL_FAILED.values(),
    TOR_BOOTSTRAP_OK,
    TOR_BOOTSTRAP_NO_RELAY,
    TOR_BOOTSTRAP_STALLED,
)
RULE_BY_ID: Final = {r.id: r for r in RULES}


def _check(rules: tuple[Rule, ...]) -> None:
    # The table is data: a duplicate id or a method outside the vocabulary is a bug here.
    assert len(RULE_BY_ID) == len(rules), "duplicate rule id"
    for r in rules:
        assert r.outcome in OUTCOMES and (r.method is None or r.method in METHODS), r.id
        assert (r.outcome == "blocked") == (r.method is not None), r.id


_check(RULES)
