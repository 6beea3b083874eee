"""Looking for known blockpages in a measurement's DNS answers, headers and bodies.

Bodies up to SMALL_BODY are always scanned; larger ones only when the page already looks
wrong (the verdict decides), and then only their first BODY_SCAN_LIMIT characters:
blockpages are small, and scanning a big page costs more than the rest of a verdict.
"""

from __future__ import annotations

from blockwatch.analysis.fingerprints import Fingerprint, FingerprintTable
from blockwatch.analysis.observations import HttpObservation

SMALL_BODY = 16 * 1024
BODY_SCAN_LIMIT = 256 * 1024


def dns_blockpage(addrs: list[str], table: FingerprintTable) -> tuple[Fingerprint, str] | None:
    """(fingerprint, address) of the first answer that is a known blockpage address."""
    for addr in addrs:
        fp = table.match_dns(addr)
        if fp is not None and not fp.is_false_positive:
            return fp, addr
    return None


def page_blockpage(
    requests: list[HttpObservation], table: FingerprintTable, *, large: bool = False
) -> tuple[Fingerprint, str] | None:
    """(fingerprint, where) for headers and small bodies, or (large=True) big bodies only."""
    for req in requests:
        if not large:
            fp = table.match_headers(req.headers)
            if fp is not None:
                return fp, f"header.{fp.location_found.split('.', 1)[1]}"
        if (len(req.body) > SMALL_BODY) == large:
            fp = table.match_body(req.body[:BODY_SCAN_LIMIT])
            if fp is not None:
                return fp, "body"
    return None


def has_large_bodies(requests: list[HttpObservation]) -> bool:
    return any(len(r.body) > SMALL_BODY for r in requests)


def fingerprint_evidence(fp: Fingerprint, where: str) -> str:
    scope = f"scope {fp.scope}" if fp.scope else "no scope"
    return f"{where} matches known blockpage fingerprint {fp.name} ({scope})"
