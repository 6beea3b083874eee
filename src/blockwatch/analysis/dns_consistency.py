"""Is the probe's DNS answer one the uncensored control could have given? (OONI's rules.)

Consistent when any address, or any non-zero ASN, is shared with the control; when both
sides got NXDOMAIN; or when a TLS handshake to the address validated the site's
certificate (only the real site, or a proxy holding its key, can do that). A bogon the
control does not give is tampering whatever else holds.
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


@dataclass(frozen=True, slots=True)
class DnsVerdict:
    consistency: Consistency
    bogons: tuple[str, ...]  # probe answers that are bogons the control does not give
    suspicious: tuple[str, ...]  # probe answers neither shared, same-ASN, nor TLS-proven


def check(
    probe: DnsObservation,
    ctrl: ControlObservation,
    tls_proven: frozenset[str] = frozenset(),
) -> DnsVerdict:
    control_addrs = set(ctrl.addrs)
    bogons = tuple(a for a in probe.addrs if is_bogon(a) and a not in control_addrs)
    if not probe.addrs:
        if ctrl.dns_failure in NXDOMAIN_FAILURES and any(
            f in NXDOMAIN_FAILURES for f in probe.failures
        ):
            return DnsVerdict("nxdomain_both", (), ())
        return DnsVerdict("no_data", (), ())
    control_asns = {asn for asn in ctrl.asns.values() if asn}
    suspicious = tuple(
        a
        for a in probe.addrs
        if a not in control_addrs
        and not (probe.asns.get(a) and probe.asns[a] in control_asns)
        and a not in tls_proven
    )
    shared = any(
        a in control_addrs or (probe.asns.get(a) and probe.asns[a] in control_asns)
        for a in probe.addrs
    )
    if bogons or not (shared or len(suspicious) < len(probe.addrs)):
        return DnsVerdict("inconsistent", bogons, suspicious)
    return DnsVerdict("consistent", (), suspicious)
