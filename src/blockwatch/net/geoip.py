"""ASN lookups from a MaxMind-format database (GeoLite2-ASN, DB-IP ASN, IPinfo...)."""

from __future__ import annotations

from pathlib import Path

import maxminddb

from blockwatch.errors import InputError


class AsnDatabase:
    """``lookup(ip) -> (asn, org)``; (0, None) when the address is unknown."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError) as exc:
            raise InputError(str(path), f"cannot open as a GeoIP database: {exc}") from exc

    def lookup(self, ip: str) -> tuple[int, str | None]:
        try:
            record = self._reader.get(ip)
        except ValueError:
            return 0, None
        if not isinstance(record, dict):
            return 0, None
        value = record.get("autonomous_system_number") or record.get("asn") or 0
        if isinstance(value, str):
            text = value.removeprefix("AS")
            asn = int(text) if text.isdigit() else 0
        else:
            asn = value if isinstance(value, int) else 0
        org = record.get("autonomous_system_organization") or record.get("as_name")
        return asn, str(org) if org else None

    def close(self) -> None:
        self._reader.close()
