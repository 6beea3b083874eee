"""Verdicts for the tool tests: tor, vanilla_tor, openvpn, signal, telegram, whatsapp.

There is no control for these: a tool's endpoints are what they are. Each endpoint (a relay,
a VPN server, a messaging backend) becomes a :class:`Unit` with the method its first failing
step names (``stage_method``). Circumvention tools need one working endpoint (Tor bootstraps
through any relay), so they are ok when one worked; messaging apps need their backends, so
they are blocked when half of them failed the censor's way (or one showed a forged
certificate, or a name lookup failed). Every endpoint refusing the connection is ``down``:
something answered, nothing listens. Pure: reads test keys only.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from blockwatch.analysis import rules as R
from blockwatch.analysis.rules import Rule
from blockwatch.ooni.tools import OBFS4_DOMAIN, TOOL_TESTS

__all__ = ["Unit", "app_summary", "decide_tool", "is_tool_test", "stage_method"]

REFUSED: Final = "connection_refused"
TIMEOUT: Final = "generic_timeout_error"
RESETS: Final = frozenset({"connection_reset", "eof_error", "ssl_failed_handshake"})
CERT_FAILURES: Final = frozenset(
    {"ssl_unknown_authority", "ssl_invalid_hostname", "ssl_invalid_certificate"}
)
UNREACHABLE: Final = frozenset({TIMEOUT, "host_unreachable", "network_unreachable"})
MESSAGING: Final = frozenset({"signal", "telegram", "whatsapp"})
# Names that answer loopback for everyone (Signal's uptime check): not a censor's lie.
LOOPBACK_BY_DESIGN: Final = frozenset({"uptime.signal.org"})


@dataclass(frozen=True, slots=True)
class Unit:
    """One endpoint's result: its name, its failure, the method that failure names."""

    name: str
    failure: str | None
    method: str | None

    @property
    def refused(self) -> bool:
        return self.failure == REFUSED


def is_tool_test(test_name: str) -> bool:
    return test_name in TOOL_TESTS


def stage_method(stage: str, failure: str | None) -> str | None:
    """The verdict method a failure at ``stage`` names (None: no failure, or not a censor's)."""
    if not failure:
        return None
    if stage == "dns":
        if failure == "dns_nxdomain_error":
            return "dns.nxdomain"
        return "dns.timeout" if failure == TIMEOUT else "dns.inconsistent"
    if stage == "tcp":
        if failure in UNREACHABLE:
            return "tcp.timeout"
        return "tcp.reset" if failure == "connection_reset" else None
    if stage == "tls":
        if failure in CERT_FAILURES:
            return "tls.mitm"
        if failure in RESETS:
            return "tls.reset"
        return "tls.timeout" if failure == TIMEOUT else None
    if stage == "http":
        if failure in RESETS:
            return "http.reset"
        return "http.timeout" if failure == TIMEOUT else None
    if stage == "handshake":  # the tool's own handshake after the transport worked
        return "dpi.handshake" if failure in RESETS or failure == TIMEOUT else None
    raise ValueError(f"unknown stage {stage!r}")


def decide_tool(test_name: str, tk: dict[str, Any], domain: str) -> tuple[Rule, list[str]]:
    """The rule that fires for one tool measurement's test keys, and its evidence."""
    if test_name == "vanilla_tor":
        return _vanilla_tor(tk)
    if test_name == "tor":
        units = _tor_units(tk, obfs4=domain == OBFS4_DOMAIN)
        return judge_any(units)
    if test_name == "openvpn":
        if tk.get("success") is True or tk.get("success_handshake") is True:
            return R.TOOL_OK, ["the OpenVPN handshake completed"]
        return judge_any(_openvpn_units(tk))
    if test_name in MESSAGING:
        return judge_all(_messaging_units(tk), _dns_units(tk))
    raise ValueError(f"not a tool test: {test_name}")


def judge_any(units: list[Unit]) -> tuple[Rule, list[str]]:
    """A circumvention tool: one working endpoint is enough."""
    if not units:
        return R.TOOL_NO_TARGETS, ["no endpoint was measured"]
    ok = [u for u in units if u.failure is None]
    failed = [u for u in units if u.failure is not None]
    evidence = [f"{u.name}: {u.failure}" for u in failed]
    if ok and not failed:
        return R.TOOL_OK, [f"{len(ok)} endpoint(s) answered"]
    if ok:
        return R.TOOL_SOME_OK, [f"{len(ok)} of {len(units)} endpoints answered", *evidence]
    return _all_failed(failed, evidence)


def judge_all(units: list[Unit], dns: list[Unit]) -> tuple[Rule, list[str]]:
    """A messaging app: it needs its backends; a lie in DNS or a forged certificate is proof."""
    lied = [u for u in dns if u.method is not None]
    if lied:
        evidence = [f"{u.name}: {u.failure}" for u in lied]
        return R.TOOL_FAILED[_commonest(lied)], evidence
    mitm = [u for u in units if u.method == "tls.mitm"]
    if mitm:
        return R.TOOL_FAILED["tls.mitm"], [f"{u.name}: {u.failure}" for u in mitm]
    if not units:
        return R.TOOL_NO_TARGETS, ["no endpoint was measured"]
    failed = [u for u in units if u.failure is not None]
    evidence = [f"{u.name}: {u.failure}" for u in failed]
    if not failed:
        return R.TOOL_OK, [f"{len(units)} endpoint(s) answered"]
    if len(failed) == len(units):
        return _all_failed(failed, evidence)
    censored = [u for u in failed if u.method is not None]
    if 2 * len(censored) >= len(units):
        return R.TOOL_FAILED[_commonest(censored)], evidence
    return R.TOOL_PARTIAL, [f"{len(failed)} of {len(units)} endpoints failed", *evidence]


def _all_failed(failed: list[Unit], evidence: list[str]) -> tuple[Rule, list[str]]:
    censored = [u for u in failed if u.method is not None]
    if censored:
        return R.TOOL_FAILED[_commonest(censored)], evidence
    if all(u.refused for u in failed):
        return R.TOOL_DOWN, evidence
    return R.TOOL_UNEXPLAINED, evidence


def _commonest(units: list[Unit]) -> str:
    counts = Counter(u.method for u in units if u.method is not None)
    return max(sorted(counts), key=lambda m: counts[m])


def _vanilla_tor(tk: dict[str, Any]) -> tuple[Rule, list[str]]:
    progress = tk.get("tor_progress")
    evidence = [f"bootstrap reached {progress}% ({tk.get('tor_progress_summary')})"]
    if tk.get("success") is True:
        return R.TOR_BOOTSTRAP_OK, evidence
    if isinstance(progress, int | float) and progress <= 5 and tk.get("failure"):
        return R.TOR_BOOTSTRAP_NO_RELAY, [*evidence, f"failure: {tk.get('failure')}"]
    return R.TOR_BOOTSTRAP_STALLED, evidence


def _tor_units(tk: dict[str, Any], *, obfs4: bool) -> list[Unit]:
    targets = tk.get("targets")
    if isinstance(targets, list):  # the 2020 keys: a list, not a map by id
        targets = {str(i): t for i, t in enumerate(targets)}
    if not isinstance(targets, dict):
        return []
    units = []
    for key, target in targets.items():
        if not isinstance(target, dict) or (target.get("target_protocol") == "obfs4") != obfs4:
            continue
        name = str(target.get("target_name") or target.get("target_address") or key)
        units.append(_tor_unit(name, target))
    return units


def _tor_unit(name: str, target: dict[str, Any]) -> Unit:
    failure = target.get("failure")
    tcp = _first_failure(target.get("tcp_connect"), _tcp_failure)
    if tcp is not None:
        return Unit(name, tcp, stage_method("tcp", tcp))
    tls = _first_failure(target.get("tls_handshakes"), lambda h: h.get("failure"))
    if tls is not None:
        return Unit(name, tls, stage_method("tls", tls))
    if not failure:
        return Unit(name, None, None)
    stage = {"obfs4": "handshake", "dir_port": "http"}.get(str(target.get("target_protocol")))
    return Unit(name, str(failure), stage_method(stage or "tcp", str(failure)))


def _openvpn_units(tk: dict[str, Any]) -> list[Unit]:
    tcp = tk.get("tcp_connect")
    tcp_list = [tcp] if isinstance(tcp, dict) else tcp if isinstance(tcp, list) else []
    tcp_failed = {
        c.get("transaction_id"): f
        for c in tcp_list
        if isinstance(c, dict)
        if (f := _tcp_failure(c))
    }
    units = []
    for h in _items(tk.get("openvpn_handshake")):
        if not isinstance(h, dict):
            continue
        name = str(h.get("endpoint") or f"{h.get('ip')}:{h.get('port')}")
        failure = tcp_failed.get(h.get("transaction_id"))
        if failure is not None:
            units.append(Unit(name, failure, stage_method("tcp", failure)))
            continue
        failure = h.get("failure")
        units.append(Unit(name, failure, stage_method("handshake", failure) if failure else None))
    if not units and tk.get("failure"):  # older keys: one tcp_connect, one failure
        failure = next(iter(tcp_failed.values()), None)
        stage = "tcp" if failure else "handshake"
        failure = failure or str(tk["failure"])
        units.append(
            Unit(str(tk.get("remote") or "endpoint"), failure, stage_method(stage, failure))
        )
    return units


def _messaging_units(tk: dict[str, Any]) -> list[Unit]:
    """One unit per address (its TCP connect, then its TLS handshake), one per failed request."""
    units: dict[str, Unit] = {}
    for c in _items(tk.get("tcp_connect")):
        if not isinstance(c, dict):
            continue
        name = f"{c.get('ip')}:{c.get('port')}"
        failure = _tcp_failure(c)
        if name not in units or failure is None:  # a retry that worked wins
            units[name] = Unit(name, failure, stage_method("tcp", failure))
    for h in _items(tk.get("tls_handshakes")):
        failure = h.get("failure") if isinstance(h, dict) else None
        if failure:
            name = str(h.get("address") or h.get("server_name") or "tls")
            if name not in units or units[name].failure is None:
                units[name] = Unit(name, failure, stage_method("tls", failure))
    for r in _items(tk.get("requests")):
        failure = r.get("failure") if isinstance(r, dict) else None
        method = stage_method("http", failure)
        if method is not None:
            url = (
                (r.get("request") or {}).get("url") if isinstance(r.get("request"), dict) else None
            )
            name = str(url or "request")
            units.setdefault(name, Unit(name, failure, method))
    return list(units.values())


def _dns_units(tk: dict[str, Any]) -> list[Unit]:
    """One unit per name that lied (loopback answers) or got no address from any lookup."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for q in _items(tk.get("queries")):
        if isinstance(q, dict) and str(q.get("hostname")) not in LOOPBACK_BY_DESIGN:
            by_name.setdefault(str(q.get("hostname")), []).append(q)
    units = []
    for name, queries in by_name.items():
        answers = [
            a.get("ipv4") or a.get("ipv6")
            for q in queries
            for a in _items(q.get("answers"))
            if isinstance(a, dict)
        ]
        addresses = [a for a in answers if isinstance(a, str)]
        if addresses:
            if all(_no_server(a) for a in addresses):
                units.append(Unit(name, f"bogon answer {addresses[0]}", "dns.bogon"))
            continue
        failed = [str(q["failure"]) for q in queries if q.get("failure")]
        failure = next(
            (f for f in failed if f == "dns_nxdomain_error"), failed[0] if failed else None
        )
        if failure is not None:
            units.append(Unit(name, failure, stage_method("dns", failure)))
    return units


def _no_server(address: str) -> bool:
    """A sinkhole answer no server has: unspecified, link-local, or the loopback host itself
    (127.0.0.1, ::1), which is what lying resolvers answer. Private addresses, and the rest
    of 127/8, are left out: without a control they may be the network's own."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_unspecified or ip.is_link_local or str(ip) in ("127.0.0.1", "::1")


def _tcp_failure(c: dict[str, Any]) -> str | None:
    status = c.get("status")
    if isinstance(status, dict):
        failure = status.get("failure")
        return str(failure) if failure else None
    return None


def _items(value: Any) -> list[Any]:
    """A list field of the test keys, or nothing when it is missing or not a list."""
    return value if isinstance(value, list) else []


def _first_failure(entries: Any, failure_of: Any) -> str | None:
    for e in _items(entries):
        if isinstance(e, dict) and (f := failure_of(e)):
            return str(f)
    return None


def app_summary(app: str, tk: dict[str, Any]) -> dict[str, Any]:
    """OONI's summary keys of a messaging app's measurement, from the same decision."""
    rule, _ = decide_tool(app, tk, app)
    units = _messaging_units(tk) + _dns_units(tk)
    failed = [u for u in units if u.failure is not None]
    first = failed[0].failure if failed else None
    blocked = rule.outcome == "blocked"
    if app == "signal":
        return {
            "signal_backend_status": "blocked" if blocked else "ok",
            "signal_backend_failure": first if blocked else None,
        }
    if app == "telegram":
        web = _host_failure(tk, "web.telegram.")
        tcp = [c for c in _items(tk.get("tcp_connect")) if isinstance(c, dict)]
        return {
            "telegram_tcp_blocking": bool(tcp) and all(_tcp_failure(c) for c in tcp),
            "telegram_http_blocking": False,  # no HTTP POST to the data centres is made
            "telegram_web_status": "blocked" if web else "ok",
            "telegram_web_failure": web,
        }
    if app == "whatsapp":
        web, registration = (_host_failure(tk, h) for h in ("web.whatsapp.", "v.whatsapp."))
        return {
            "whatsapp_endpoints_status": "blocked" if blocked else "ok",
            "whatsapp_endpoints_blocked": [u.name for u in failed if u.method is not None],
            "whatsapp_endpoints_dns_inconsistent": [],
            "registration_server_status": "blocked" if registration else "ok",
            "registration_server_failure": registration,
            "whatsapp_web_status": "blocked" if web else "ok",
            "whatsapp_web_failure": web,
        }
    raise ValueError(f"not a messaging app: {app}")


def _host_failure(tk: dict[str, Any], host: str) -> str | None:
    """The first TLS or HTTP failure of the endpoints whose name starts with ``host`` (the
    app's front-end under any domain: web.telegram.org, or the lab's web.telegram.lab)."""
    for h in _items(tk.get("tls_handshakes")):
        name = h.get("server_name") if isinstance(h, dict) else None
        if isinstance(name, str) and name.startswith(host) and h.get("failure"):
            return str(h["failure"])
    for r in _items(tk.get("requests")):
        request = r.get("request") if isinstance(r, dict) else None
        url = request.get("url") if isinstance(request, dict) else None
        if isinstance(url, str) and f"//{host}" in url and r.get("failure"):
            return str(r["failure"])
    return None
