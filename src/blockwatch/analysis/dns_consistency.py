"""Is the probe's DNS answer one the uncensored control could have given? (OONI's rules.)

Each of the probe's own resolvers (system, UDP) is judged on its own: its answer is
consistent when any address, or any non-zero ASN, is shared with the control. NXDOMAIN on
both sides is consistent (the name does not exist). A bogon the control does not give is
tampering whatever else holds. Addresses whose TLS handshake validated the site's
certificate are reported separately ("proven"): only the site, or a proxy holding its
key, can do that, so they excuse an otherwise inconsistent answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from blockwatch.analysis.bogons import is_bogon
from blockwatch.analysis.observations import ControlObservation, DnsObservation

Consistency = Literal["consistent", "inconsistent", "nxdomain_both", "no_data"]
NXDOMAIN_FAILURES = frozenset({"dns_nxdomain_error", "dns_name_error"})
# Failures meaning "the name does not exist / has no address": what a lying resolver says.
NO_SUCH_NAME = NXDOMAIN_FAILURES | {"android_dns_cache_no_data", "dns_no_answer"}


@dataclass(slots=True)
class DnsVerdict:
    consistency: Consistency
    bogons: tuple[str, ...]  # probe answers that are bogons the control does not give
    suspicious: tuple[str, ...]  # answers of inconsistent resolvers, not shared with control


def check(probe: DnsObservation, ctrl: ControlObservation) -> DnsVerdict:
    """Judge the probe's answers against the control's (see the module docstring)."""
    control_addrs = set(ctrl.addrs)
    if not probe.addrs:
        if ctrl.dns_failure in NXDOMAIN_FAILURES and any(
            f in NXDOMAIN_FAILURES for f in probe.failures
        ):
            return DnsVerdict("nxdomain_both", (), ())
        return DnsVerdict("no_data", (), ())
    if not control_addrs and ctrl.dns_failure not in NXDOMAIN_FAILURES:
        # The control could not resolve the name (timeout, no helper answer): there is
        # nothing to compare with, and a private answer may be the site's own.
        return DnsVerdict("no_data", (), ())
    bogons = tuple(a for a in probe.addrs if is_bogon(a) and a not in control_addrs)
    # ip_info also describes the probe's addresses (the control connects to them too):
    # only the ASNs of the control's own answers count.
    control_asns = {ctrl.asns[a] for a in ctrl.addrs if ctrl.asns.get(a)}
    suspicious: list[str] = []
    for addrs, _ in probe.engines.values():
        shared = any(a in control_addrs or (probe.asns.get(a, 0) in control_asns) for a in addrs)
        if addrs and not shared:
            suspicious.extend(a for a in addrs if a not in suspicious)
    if bogons or suspicious:
        return DnsVerdict("inconsistent", bogons, tuple(suspicious))
    return DnsVerdict("consistent", (), ())
