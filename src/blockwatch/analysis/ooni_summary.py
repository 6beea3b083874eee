"""OONI's Web Connectivity summary keys, from the same observations and rules as the verdict.

A probe writes ``dns_consistency``, the HTTP matches, ``blocking`` and ``accessible`` into
its measurements (ts-017); ours computes them here, over its own test keys as they are
stored, the way probe-cli feeds its classic summary from the analysis it runs. So the
keys a measurement carries are what our analysis says of it: one rule set.

- ``dns_consistency``: each of the probe's resolvers (``dns_consistency.check``); a resolver
  that failed is consistent only when the control failed too; an IP-literal URL is
  consistent.
- The HTTP matches: ``http_diff.compare`` on the page the probe got
  (``observations.final_request``), every comparison made.
- ``blocking`` and ``accessible``: the verdict (``verdict.decide``, the rule table) in
  OONI's words: a ``dns.*`` method is "dns", ``tcp.*`` "tcp_ip", ``http.diff`` and
  ``http.blockpage`` "http-diff", any other method "http-failure"; ``ok`` is (False, True),
  ``down`` (False, False), ``inconclusive`` (None, None).
- TCP ``status.blocked``: the probe failed an endpoint the control connected to.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Final

from blockwatch.analysis import observations as obs
from blockwatch.analysis.dns_consistency import check
from blockwatch.analysis.fingerprints import FingerprintTable
from blockwatch.analysis.http_diff import HttpDiff
from blockwatch.analysis.rules import Rule
from blockwatch.analysis.verdict import decide, diff_with_control
from blockwatch.ooni.measurement import domain_of

__all__ = ["SUMMARY_KEYS", "OoniSummary", "ooni_blocking", "ooni_summary"]

# The keys a web_connectivity measurement carries that this module decides.
SUMMARY_KEYS: Final = (
    "dns_consistency",
    "body_length_match",
    "body_proportion",
    "status_code_match",
    "headers_match",
    "title_match",
    "blocking",
    "accessible",
)


@dataclass(slots=True)
class OoniSummary:
    keys: dict[str, Any]  # SUMMARY_KEYS -> value
    tcp_blocked: list[bool | None]  # status.blocked of each tcp_connect entry, in order


def ooni_summary(
    tk: dict[str, Any],
    url: str,
    probe_cc: str = "",
    fingerprints: FingerprintTable | None = None,
) -> OoniSummary:
    """The summary keys of one web_connectivity measurement's test keys (of ``url``, made
    in ``probe_cc``; the fingerprint table is the default one when None)."""
    host = domain_of(url)
    ctrl = obs.control(tk)
    keys: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    keys["dns_consistency"] = dns_consistency(tk, host, ctrl)
    diff = _diff(obs.final_request(obs.http_requests(tk)), ctrl)
    if diff is not None:
        proportion = diff.body_proportion
        keys["body_length_match"] = diff.body_length_match
        keys["body_proportion"] = None if proportion is None else round(proportion, 6)
        keys["status_code_match"] = diff.status_code_match
        keys["headers_match"] = diff.headers_match
        keys["title_match"] = diff.title_match
    table = fingerprints if fingerprints is not None else FingerprintTable.default()
    rule = decide(tk, host, table, url=url, probe_cc=probe_cc).rule
    keys["blocking"], keys["accessible"] = ooni_blocking(rule)
    return OoniSummary(keys, tcp_blocked(tk))


def ooni_blocking(rule: Rule) -> tuple[str | bool | None, bool | None]:
    """A verdict rule's (blocking, accessible) in OONI's words (the module docstring)."""
    if rule.outcome == "ok":
        return False, True
    if rule.outcome == "down":
        return False, False
    if rule.outcome == "inconclusive" or rule.method is None:
        return None, None
    if rule.method.startswith("dns."):
        return "dns", False
    if rule.method.startswith("tcp."):
        return "tcp_ip", False
    if rule.method in ("http.diff", "http.blockpage"):
        return "http-diff", False
    return "http-failure", False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def dns_consistency(
    tk: dict[str, Any], host: str, ctrl: obs.ControlObservation | None
) -> str | None:
    """ "consistent" | "inconsistent" | None (no control, or no lookup recorded)."""
    if ctrl is None:
        return None
    if _is_ip(host):
        return "consistent"  # nothing was resolved (the control reports a name error)
    dns = obs.probe_dns(tk, host)
    if not dns.engines:
        return None
    control_failed = ctrl.dns_failure is not None and not ctrl.addrs
    if dns.failed_engines() and not control_failed:
        return "inconsistent"  # a resolver failed where the control resolved the name
    if not dns.addrs:
        return "consistent"  # every resolver failed, and so did the control
    if not ctrl.addrs:
        return "inconsistent"  # the probe got addresses the control never gave
    return "inconsistent" if check(dns, ctrl).consistency == "inconsistent" else "consistent"


def tcp_blocked(tk: dict[str, Any]) -> list[bool | None]:
    """OONI's ``status.blocked`` of each tcp_connect entry (None where unknown): the probe
    failed an endpoint the control connected to."""
    out: list[bool | None] = []
    for entry in _list(tk.get("tcp_connect")):
        e = obs.tcp_connect_entry(entry)
        measured, failure = (
            obs.control_endpoint(tk, "tcp_connect", e.ip, e.port) if e else (False, None)
        )
        out.append(e.failure is not None and failure is None if e and measured else None)
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _diff(
    final: obs.HttpObservation | None, ctrl: obs.ControlObservation | None
) -> HttpDiff | None:
    if final is None or final.failure is not None or final.status is None or ctrl is None:
        return None
    if ctrl.http_failure is not None:
        return None
    return diff_with_control(final, ctrl, every_match=True)
