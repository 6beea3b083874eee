"""The verdict of one measurement: ok, blocked (and how), down, or inconclusive.

Pure rules over the observations of ``blockwatch.analysis.observations``; no I/O. The
order of the rules is the order of a connection: a known blockpage (DNS or HTTP) first,
then DNS, then the fetch (TCP -> TLS -> HTTP) compared with the control. Never "blocked"
without a working control, except on a fingerprint match (a known blockpage is proof).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from blockwatch.analysis import observations as obs
from blockwatch.analysis import rules as R
from blockwatch.analysis.blockpages import (
    dns_blockpage,
    fingerprint_evidence,
    has_large_bodies,
    page_blockpage,
)
from blockwatch.analysis.dns_consistency import NO_SUCH_NAME, NXDOMAIN_FAILURES, check
from blockwatch.analysis.fingerprints import Fingerprint, FingerprintTable
from blockwatch.analysis.http_diff import HttpDiff, compare
from blockwatch.analysis.records import Verdict
from blockwatch.analysis.rules import Rule
from blockwatch.analysis.stages import (
    TIMEOUT,
    Broken,
    broken_redirect,
    locate_failure,
    method_for,
    routable_endpoints,
)
from blockwatch.analysis.throttling import baseline, goodput, is_throttled, judge_timed_out
from blockwatch.analysis.tools import decide_tool, is_tool_test
from blockwatch.errors import BlockwatchError, MalformedMeasurement
from blockwatch.ooni.measurement import Measurement, parse_measurement

# Techniques whose traffic may show up as another method. The lab's score uses this.
TECHNIQUE_OBSERVED_AS: dict[str, frozenset[str]] = {
    "dns.bogon": frozenset({"dns.bogon", "dns.blockpage_ip"}),
}
OONI_BLOCKED = frozenset({"dns", "tcp_ip", "http-failure", "http-diff"})
WEB_CONNECTIVITY = "web_connectivity"


@dataclass(slots=True)
class Decision:
    """The rule that fired (analysis/rules.py), the evidence it read, the fingerprint used."""

    rule: Rule
    evidence: list[str] = field(default_factory=list)
    fingerprint: Fingerprint | None = None


def analyze(m: Measurement, fingerprints: FingerprintTable | None = None) -> Verdict:
    """One verdict for one measurement (pure, fast)."""
    tk = m.test_keys
    ooni = normalise_blocking(tk.get("blocking") if tk else None)
    if m.test_name != WEB_CONNECTIVITY and not is_tool_test(m.test_name):
        d = Decision(R.NOT_ANALYSED, [f"test {m.test_name} is not analysed yet"])
    elif not tk:
        d = Decision(R.NO_TEST_KEYS, ["the measurement has no test keys"])
    elif m.test_name != WEB_CONNECTIVITY:
        try:
            d = Decision(*decide_tool(m.test_name, tk, m.domain))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise MalformedMeasurement(m.source, m.line, f"unusable test keys: {exc}") from exc
    else:
        table = fingerprints if fingerprints is not None else FingerprintTable.default()
        try:
            d = decide(tk, m.domain, table, url=m.input, probe_cc=m.probe_cc)
        except BlockwatchError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            # Observations tolerate wrong types; this is the last net for shapes we missed.
            raise MalformedMeasurement(m.source, m.line, f"unusable test keys: {exc}") from exc
    fp, rule = d.fingerprint, d.rule
    return Verdict(
        measurement_id=m.measurement_id,
        measured_at=m.measured_at,
        probe_cc=m.probe_cc,
        probe_asn=m.probe_asn,
        input=m.input,
        domain=m.domain,
        test_name=m.test_name,
        outcome=rule.outcome,
        method=rule.method,
        confidence=rule.confidence,
        confirmed=fp is not None and not fp.is_false_positive and rule.outcome == "blocked",
        evidence=tuple(d.evidence),
        fingerprint=fp.name if fp is not None else None,
        ooni_blocking=ooni,
        ooni_disagrees=disagrees(rule.outcome, ooni),
        rule_id=rule.id,
    )


def analyze_document(
    doc: Any,
    source: str = "-",
    line: int | None = None,
    fingerprints: FingerprintTable | None = None,
) -> Verdict:
    """Parse and analyse one decoded JSON document (raises MalformedMeasurement)."""
    return analyze(parse_measurement(doc, source, line), fingerprints)


def detects(technique: str, method: str | None) -> bool:
    """Whether a verdict method counts as detecting a lab technique (same vocabulary)."""
    return method is not None and method in TECHNIQUE_OBSERVED_AS.get(technique, {technique})


def normalise_blocking(value: Any) -> str | None:
    """OONI's stored test_keys.blocking as one of dns/tcp_ip/http-failure/http-diff/false."""
    if value is False:
        return "false"
    if isinstance(value, str) and value:
        return value
    return None


def disagrees(outcome: str, ooni: str | None) -> bool:
    """True when one side calls it blocking and the other does not (inconclusive never counts)."""
    if ooni is None or outcome == "inconclusive" or (ooni != "false" and ooni not in OONI_BLOCKED):
        return False
    return (outcome == "blocked") != (ooni in OONI_BLOCKED)


# -- the rules ------------------------------------------------------------------------


def decide(
    tk: dict[str, Any], host: str, table: FingerprintTable, url: str = "", probe_cc: str = ""
) -> Decision:
    """The rules, in the order of a connection (see the module docstring)."""
    notes: list[str] = []  # fingerprints that matched outside their countries
    d = _decide(tk, host, _Fingerprints(table, probe_cc, notes), url)
    d.evidence.extend(n for n in notes if n not in d.evidence)
    return d


@dataclass(slots=True)
class _Fingerprints:
    """The table, seen from one probe's country: a row that names its countries confirms
    only there (OONI's expected_countries); a match elsewhere becomes a note, not proof."""

    table: FingerprintTable
    probe_cc: str
    notes: list[str]

    def _keep(
        self, hit: tuple[Fingerprint, str] | None, what: str
    ) -> tuple[Fingerprint, str] | None:
        if hit is None or expected_here(hit[0], self.probe_cc):
            return hit
        fp = hit[0]
        self.notes.append(
            f"{what} matches fingerprint {fp.name}, expected in {', '.join(fp.expected_countries)}"
            f" only, not {self.probe_cc}: not proof here"
        )
        return None

    def dns(self, addrs: list[str]) -> tuple[Fingerprint, str] | None:
        hit = dns_blockpage(addrs, self.table)
        return self._keep(hit, f"probe resolver's answer {hit[1]}" if hit else "")

    def page(
        self, requests: list[obs.HttpObservation], *, large: bool = False
    ) -> tuple[Fingerprint, str] | None:
        hit = page_blockpage(requests, self.table, large=large)
        return self._keep(hit, f"the page's {hit[1]}" if hit else "")


def expected_here(fp: Fingerprint, probe_cc: str) -> bool:
    """Whether a fingerprint may confirm a block in this country (unknown: ZZ or empty)."""
    cc = probe_cc.upper()
    return not fp.expected_countries or cc in ("", "ZZ") or cc in fp.expected_countries


def _decide(tk: dict[str, Any], host: str, fps: _Fingerprints, url: str) -> Decision:
    ctrl = obs.control(tk)
    dns = obs.probe_dns(tk, host)
    requests = obs.http_requests(tk)
    final = obs.final_request(requests)

    hit = _dns_fingerprint(dns, ctrl, fps)
    if hit is not None:
        return hit
    page_fp = fps.page(requests)
    if page_fp is None and has_large_bodies(requests) and (ctrl is None or not ctrl.addrs):
        page_fp = fps.page(requests, large=True)
    if ctrl is None:
        return _without_control(tk, final, page_fp, host, obs.tls_handshakes(tk))

    dv = check(dns, ctrl)
    dns_bad = dv.consistency == "inconsistent"
    if page_fp is None and dns_bad and has_large_bodies(requests):
        page_fp = fps.page(requests, large=True)
    if page_fp is not None and not page_fp[0].is_false_positive:
        fp, where = page_fp
        rule = R.PAGE_FINGERPRINT_DNS if dns_bad else R.PAGE_FINGERPRINT
        return Decision(rule, [fingerprint_evidence(fp, where)], fp)

    failed = _dns_failure(dns, ctrl, dv.consistency)
    if failed is not None:
        return failed
    if dv.bogons and ctrl.addrs:
        # Only against a control that resolved the name: where the control's DNS failed,
        # a private answer may be the site's own (intranets, the lab) and the fetch decides.
        ev = [
            f"probe resolver answered {_describe(dv.bogons, dns.asns)} (bogon), "
            f"control answered {_describe(ctrl.addrs, ctrl.asns)}"
        ]
        return Decision(R.DNS_BOGON, ev)
    if dns_bad and ctrl.dns_failure in NXDOMAIN_FAILURES:
        # The name does not exist for the control, yet the probe's resolver answers it.
        ev = [
            f"probe resolver answered {_describe(dv.suspicious, dns.asns)} for a name the "
            f"control finds does not exist ({ctrl.dns_failure})"
        ]
        return Decision(R.DNS_GHOST, ev)

    dns_ev = ""
    if dns_bad:
        dns_ev = (
            f"probe resolver answered {_describe(dv.suspicious, dns.asns)}, control answered "
            f"{_describe(ctrl.addrs, ctrl.asns)} (no address or AS in common)"
        )
    flow = _Flow(
        tk, host, url, final, ctrl, dv.suspicious if dns_bad else (), dns_ev, fps, requests
    )
    if final is not None and not flow.suspicious and broken_redirect(final):
        # The site's own answer cannot be followed, whatever the control made of it.
        why = final.failure or "the chain stopped there"
        ev = [f"the site answered {final.status} with a Location that cannot be followed ({why})"]
        return Decision(R.BROKEN_REDIRECT, ev)
    if final is not None and final.failure is None and final.status is not None:
        broken_chain = 300 <= final.status < 400 and not (
            ctrl.http_status is not None and 300 <= ctrl.http_status < 400
        )
        if not broken_chain:
            return _compare_page(flow, page_fp)
    return _probe_failed(flow)


@dataclass(slots=True)
class _Flow:
    """What the fetch-stage rules need, gathered once (TLS records read on demand)."""

    tk: dict[str, Any]
    host: str
    url: str
    final: obs.HttpObservation | None
    ctrl: obs.ControlObservation
    suspicious: tuple[str, ...]  # non-empty: the probe's DNS is inconsistent
    dns_ev: str
    fps: _Fingerprints
    requests: list[obs.HttpObservation]
    _tls: list[obs.Endpoint] | None = None

    @property
    def tls(self) -> list[obs.Endpoint]:
        if self._tls is None:
            self._tls = obs.tls_handshakes(self.tk)
        return self._tls


def _dns_failure(
    dns: obs.DnsObservation, ctrl: obs.ControlObservation, consistency: str
) -> Decision | None:
    """A probe resolver that gave no address at all, judged against the control."""
    failed = dns.failed_engines()
    if not failed:
        return None
    # A name one resolver says does not exist outweighs another's timeout.
    engine, failure = next(((e, f) for e, f in failed if f in NO_SUCH_NAME), failed[0])
    if failure == TIMEOUT and dns.addrs:
        # One resolver timed out but another answered: a lost datagram, not a block;
        # what the answer is worth is judged below.
        return None
    if consistency == "nxdomain_both" or ctrl.dns_failure or not ctrl.addrs:
        if dns.addrs:
            return None  # another resolver answered; the name's fate is decided below
        why = ctrl.dns_failure or "no addresses"
        ev = [f"probe resolver failed ({failure}) and so did the control ({why})"]
        return Decision(R.DNS_FAILED_BOTH, ev)
    ctrl_addrs = _describe(ctrl.addrs, ctrl.asns)
    ev = [f"probe resolver ({engine}) failed with {failure}, control answered {ctrl_addrs}"]
    if failure in NO_SUCH_NAME:
        return Decision(R.DNS_NXDOMAIN, ev)
    if failure == TIMEOUT:
        return Decision(R.DNS_TIMEOUT, ev)
    return Decision(R.DNS_FAILED, ev)


def _dns_fingerprint(
    dns: obs.DnsObservation, ctrl: obs.ControlObservation | None, fps: _Fingerprints
) -> Decision | None:
    # An address the control got too is the site's own (OONI's table lists 127.0.0.1,
    # which some sites really resolve to): only the probe's own answers can be a censor's.
    addrs = [a for a in dns.addrs if a not in ctrl.addrs] if ctrl is not None else dns.addrs
    hit = fps.dns(addrs)
    if hit is None:
        return None
    fp, addr = hit
    ev = [f"probe resolver answered {addr}: {fingerprint_evidence(fp, 'dns')}"]
    return Decision(R.DNS_FINGERPRINT, ev, fp)


def _describe(addrs: Any, asns: dict[str, int]) -> str:
    parts = [f"{a} (AS{asns[a]})" if asns.get(a) else a for a in list(addrs)[:3]]
    return ", ".join(parts) or "nothing"


def _without_control(
    tk: dict[str, Any],
    final: obs.HttpObservation | None,
    page_fp: tuple[Fingerprint, str] | None,
    host: str,
    tls: list[obs.Endpoint],
) -> Decision:
    failure = tk.get("control_failure")
    why = failure if isinstance(failure, str) and failure else "missing"
    if page_fp is not None and not page_fp[0].is_false_positive:
        fp, where = page_fp
        return Decision(R.NO_CONTROL_BLOCKPAGE, [fingerprint_evidence(fp, where)], fp)
    if (
        final is not None
        and final.failure is None
        and final.status is not None
        and final.url.startswith("https://")
        and any(t.failure is None and not t.no_tls_verify and t.server_name == host for t in tls)
    ):
        # A page fetched over TLS with the site's valid certificate is the site itself.
        ev = [f"control failed ({why}); probe fetched status {final.status} over valid TLS"]
        return Decision(R.NO_CONTROL_VALID_TLS, ev)
    return Decision(R.NO_CONTROL, [f"control failed ({why}): nothing to compare"])


def _compare_page(flow: _Flow, page_fp: tuple[Fingerprint, str] | None) -> Decision:
    final, ctrl = flow.final, flow.ctrl
    assert final is not None
    if page_fp is None and has_large_bodies(flow.requests):
        # Only now, and only if the page looks wrong, is a big body worth scanning.
        control_failed = ctrl.http_failure is not None or ctrl.http_status is None
        if control_failed or _differs(final, ctrl):
            page_fp = flow.fps.page(flow.requests, large=True)
            if page_fp is not None and not page_fp[0].is_false_positive:
                fp, where = page_fp
                return Decision(R.PAGE_FINGERPRINT, [fingerprint_evidence(fp, where)], fp)
    if ctrl.http_failure is not None or ctrl.http_status is None:
        ev = [f"probe fetched status {final.status}; control failed ({ctrl.http_failure})"]
        if flow.suspicious:
            return Decision(R.PAGE_CONTROL_FAILED_DNS, [flow.dns_ev, *ev])
        return Decision(R.PAGE_CONTROL_FAILED, ev)
    # The control fetched the page: a body that crawled in is throttling, whatever it holds.
    g = goodput(obs.body_reads(flow.tk), final.transaction_id)
    if is_throttled(g) and g is not None:
        ev = [f"body arrived at a crawl: {g.describe()}", baseline(flow.tk, g)]
        return Decision(R.THROTTLED_BODY, ev)
    if page_fp is not None:  # only false-positive rows get here, e.g. a CDN's CAPTCHA
        fp, where = page_fp
        ev = [f"{where} matches {fp.name}, a known page that is not censorship"]
        return Decision(R.PAGE_KNOWN_NOT_CENSORSHIP, ev, fp)
    summary = (
        f"probe got status {final.status}, {final.body_length} bytes; control got "
        f"{ctrl.http_status}, {ctrl.http_body_length} bytes"
    )
    if _differs(final, ctrl):
        if flow.suspicious:
            return Decision(R.PAGE_DIFF_DNS, [flow.dns_ev, summary])
        return Decision(R.PAGE_DIFF, [f"page differs from the control: {summary}"])
    ev = [f"page matches the control: {summary}"]
    if not flow.suspicious:
        return Decision(R.PAGE_MATCH, ev)
    return _matched_despite_dns(flow, final, ev)


def _matched_despite_dns(flow: _Flow, final: obs.HttpObservation, ev: list[str]) -> Decision:
    # DNS disagreed with the control but the page matched: a CDN or a transparent proxy,
    # unless the addresses the probe's resolver gave are the ones that failed.
    served = (
        obs.split_endpoint(final.address)[0]
        if final.address
        else obs.ip_of_transaction(flow.tk, final.transaction_id)
    )
    proven = {t.ip for t in flow.tls if t.failure is None and t.server_name == flow.host}
    if served is None or served in flow.suspicious or set(flow.suspicious) <= proven:
        ev.insert(0, flow.dns_ev + ", yet the page from that address matched")
        return Decision(R.PAGE_MATCH_DNS, ev)
    tcp, tls, _ = routable_endpoints(obs.tcp_connects(flow.tk), flow.tls)
    broken = [
        f"{e.ip}:{e.port} {e.failure}"
        for e in [*tcp, *tls]
        if e.failure and e.ip in flow.suspicious
    ]
    if broken:
        why = f"; connecting there failed ({', '.join(broken[:2])})"
        return Decision(R.DNS_INCONSISTENT_FAILED, [flow.dns_ev + why])
    return Decision(R.DNS_INCONSISTENT, [flow.dns_ev])


def diff_with_control(
    final: obs.HttpObservation, ctrl: obs.ControlObservation, every_match: bool = False
) -> HttpDiff:
    """The probe's final page against the control's (``every_match``: every comparison is
    made, as OONI's summary keys need, not only those the rules read)."""
    return compare(
        probe_status=final.status,
        probe_headers=final.headers,
        probe_body=final.body,
        probe_body_length=final.body_length,
        probe_truncated=final.body_truncated,
        control_status=ctrl.http_status,
        control_headers=ctrl.http_headers,
        control_body_length=ctrl.http_body_length,
        control_title=ctrl.http_title,
        every_match=every_match,
    )


def _differs(final: obs.HttpObservation, ctrl: obs.ControlObservation) -> bool:
    return diff_with_control(final, ctrl).differs


def _locate(flow: _Flow, final: obs.HttpObservation | None) -> tuple[Broken | None, list[str]]:
    """The step that broke the fetch, and notes on what was set aside (unroutable IPv6)."""
    tcp, tls, ignored = routable_endpoints(obs.tcp_connects(flow.tk), flow.tls)
    notes = []
    if ignored:
        notes.append(
            f"{ignored} IPv6 connects failed: the probe has no IPv6 route, so they are not evidence"
        )
    located = locate_failure(final, tcp, tls)
    if located is None:
        for host, failure in obs.other_host_failures(flow.tk, flow.host):
            located = Broken("dns", failure, f"lookup of {host} (a redirect target)")
            break
    return located, notes


def _probe_failed(flow: _Flow) -> Decision:
    final, ctrl, tk = flow.final, flow.ctrl, flow.tk
    if final is None and isinstance(tk.get("http_experiment_failure"), str):
        # Legacy measurements may keep only the summary failure, without a request entry.
        final = obs.HttpObservation(
            flow.url, tk["http_experiment_failure"], None, {}, "", 0, False, None
        )
    located, notes = _locate(flow, final)
    if located is None:
        if ctrl.http_failure is not None:
            ev = ["the probe fetched nothing", f"control failed too ({ctrl.http_failure})"]
            return Decision(R.FETCH_NOTHING_DOWN, [*ev, *notes])
        return Decision(R.FETCH_NOTHING, ["the probe fetched nothing, no error", *notes])
    stage, failure, where, endpoint = located
    probe_ev = f"probe {stage} {where} failed with {failure}"
    if ctrl.http_failure is not None:
        ev = [probe_ev, f"control failed too ({ctrl.http_failure})", *notes]
        return Decision(R.FETCH_DOWN, ev)
    if flow.suspicious:
        return Decision(R.FETCH_FAILED_DNS, [flow.dns_ev, probe_ev, *notes])
    if endpoint is not None and stage in ("tcp", "tls"):
        kind = "tcp_connect" if stage == "tcp" else "tls_handshake"
        measured, ctrl_failure = obs.control_endpoint(tk, kind, endpoint.ip, endpoint.port)
        if measured and ctrl_failure is not None:
            # The control could not reach that endpoint either: it is broken for everyone.
            ev = [probe_ev, f"the control's {stage} to it failed too ({ctrl_failure})"]
            return Decision(R.FETCH_ENDPOINT_DOWN, [*ev, *notes])
    cut = _throttled_timeout(flow, final, stage, failure)
    if cut is not None:
        return Decision(cut.rule, [probe_ev, *cut.evidence, *notes])
    ev = [probe_ev, f"control fetched status {ctrl.http_status}", *notes]
    method = method_for(stage, failure)
    if method is None:
        return Decision(R.FETCH_UNEXPLAINED, ev)
    return Decision(R.FETCH_FAILED[method], ev)


# What the read trace of a timed-out exchange says (throttling.judge_timed_out's cases).
_CUT_RULES: Final = {
    "throttled.timeout": R.THROTTLED_TIMEOUT,
    "throttled.timeout.no_trace": R.THROTTLED_TIMEOUT_NO_TRACE,
    "http.timeout.stall": R.HTTP_TIMEOUT_STALL,
}


def _throttled_timeout(
    flow: _Flow, final: obs.HttpObservation | None, stage: str, failure: str
) -> Decision | None:
    """A timed-out HTTP exchange, judged from its read trace: a policer's steady crawl,
    a stall, or (no trace at all) a status and a cut body; None: a plain timeout."""
    if failure != TIMEOUT or stage != "http" or final is None:
        return None
    cut = judge_timed_out(flow.tk, final.transaction_id, final.status, final.body_truncated)
    if cut is None:
        return None
    return Decision(_CUT_RULES[cut.case], list(cut.evidence))
