"""Names of networks from an ASN database: the name people use where only the AS number is
known (OONI records without ``probe_network_name``, a trace hop's AS), and an address's AS.

Two freely available formats are read, told apart by their bytes:

- iptoasn.com's TSV (``ip2asn-v4.tsv``, ``ip2asn-combined.tsv``, gzipped or not): one range
  a line, tab-separated ``range_start range_end AS_number country_code AS_description``; AS 0
  ("Not routed") names nothing;
- a MaxMind DB of ASN records (GeoLite2-ASN, DB-IP's ASN Lite, IPinfo's ASN):
  ``autonomous_system_number`` and ``autonomous_system_organization`` (or ``asn`` and
  ``as_name``) per network.

A line of the TSV that does not parse is skipped and counted (``skipped``, the first few
named by line), never the lines around it.
"""

from __future__ import annotations

import bisect
import gzip
import ipaddress
import socket
import threading
from pathlib import Path
from typing import Any, Final

import maxminddb

from blockwatch.errors import InputError

__all__ = ["AsnDb", "MmdbAsn", "TsvAsn", "asn_number", "open_asn_db"]

MMDB_MARKER: Final = b"\xab\xcd\xefMaxMind.com"
_TAIL: Final = 128 * 1024  # the MaxMind metadata marker sits in the file's last 128 KiB
_NAME_CAP: Final = 200
_REASONS_KEPT: Final = 5


def asn_number(asn: str | int | None) -> int:
    """17557 from "AS17557", "as17557", "17557" or 17557; 0 for anything else."""
    if isinstance(asn, int) and not isinstance(asn, bool):
        return asn if asn > 0 else 0
    if not isinstance(asn, str):
        return 0
    text = asn.strip().upper().removeprefix("AS")
    return int(text) if text.isdigit() and len(text) <= 10 else 0


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())[:_NAME_CAP]
    return text or None


def _address(text: str) -> tuple[int, int]:
    """(IP version, the address as an integer); inet_pton is many times faster than
    ipaddress on the half a million lines of a real database."""
    for version, family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        try:
            return version, int.from_bytes(socket.inet_pton(family, text), "big")
        except (OSError, ValueError):
            continue
    raise ValueError(f"not an address: {text[:45]!r}")


class AsnDb:
    """An ASN database: ``lookup(ip) -> (asn, name)`` ((0, None): unknown) and
    ``name(asn) -> name | None``."""

    path: Path

    def lookup(self, ip: str) -> tuple[int, str | None]:
        raise NotImplementedError

    def name(self, asn: str | int | None) -> str | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (a no-op for a database read whole)."""


class TsvAsn(AsnDb):
    """iptoasn.com's TSV, read whole: ranges sorted per IP version, names by AS."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.skipped = 0
        self.reasons: list[str] = []
        self.names: dict[int, str] = {}
        rows: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                version, row, name = self._parse(line)
            except ValueError as exc:
                self._skip(number, str(exc))
                continue
            rows[version].append(row)
            if name and row[2]:
                self.names.setdefault(row[2], name)
        self._ranges = {v: sorted(r) for v, r in rows.items()}
        self._starts = {v: [r[0] for r in rs] for v, rs in self._ranges.items()}

    @staticmethod
    def _parse(line: str) -> tuple[int, tuple[int, int, int], str | None]:
        cells = line.rstrip("\r\n").split("\t")
        if len(cells) < 3:
            raise ValueError(f"{len(cells)} columns, expected 5")
        (version, start), (other, end) = _address(cells[0]), _address(cells[1])
        if version != other or end < start:
            raise ValueError(f"not a range: {cells[0][:45]} to {cells[1][:45]}")
        asn = asn_number(cells[2])
        if asn == 0 and cells[2].strip() != "0":
            raise ValueError(f"AS number {cells[2][:20]!r}")
        name = _name(cells[4]) if len(cells) > 4 else None
        if name == "Not routed":
            name = None
        return version, (start, end, asn), name

    def _skip(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.reasons) < _REASONS_KEPT:
            self.reasons.append(f"{self.path}:{line}: {reason}")

    def __len__(self) -> int:
        """How many ranges it holds."""
        return sum(len(r) for r in self._ranges.values())

    def lookup(self, ip: str) -> tuple[int, str | None]:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return 0, None
        at = bisect.bisect_right(self._starts[addr.version], int(addr)) - 1
        if at < 0:
            return 0, None
        start, end, asn = self._ranges[addr.version][at]
        if not start <= int(addr) <= end or asn == 0:
            return 0, None
        return asn, self.names.get(asn)

    def name(self, asn: str | int | None) -> str | None:
        return self.names.get(asn_number(asn))


class MmdbAsn(AsnDb):
    """A MaxMind-format ASN database; names by AS are read from it on first need."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError) as exc:
            raise InputError(str(path), f"cannot open as a MaxMind DB: {exc}") from exc
        self._names: dict[int, str] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _record(record: Any) -> tuple[int, str | None]:
        if not isinstance(record, dict):
            return 0, None
        asn = asn_number(record.get("autonomous_system_number") or record.get("asn"))
        org = record.get("autonomous_system_organization") or record.get("as_name")
        return asn, _name(org) if asn else None

    def lookup(self, ip: str) -> tuple[int, str | None]:
        try:
            return self._record(self._reader.get(ip))
        except ValueError:
            return 0, None

    def name(self, asn: str | int | None) -> str | None:
        number = asn_number(asn)
        if not number:
            return None
        with self._lock:
            if self._names is None:
                names: dict[int, str] = {}
                # Every network once: a MaxMind DB is keyed by address, not by AS.
                for _, record in self._reader:
                    n, org = self._record(record)
                    if n and org:
                        names.setdefault(n, org)
                self._names = names
        return self._names.get(number)

    def close(self) -> None:
        self._reader.close()


def _is_mmdb(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - _TAIL))
        return MMDB_MARKER in fh.read()


def open_asn_db(path: str | Path) -> AsnDb:
    """Open an ASN database in either format (see the module docstring)."""
    path = Path(path)
    try:
        if _is_mmdb(path):
            return MmdbAsn(path)
        with path.open("rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        data = gzip.decompress(path.read_bytes()) if gzipped else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(str(path), f"cannot read an ASN database: {exc}") from exc
    text = data.decode("utf-8", errors="replace")
    db = TsvAsn(path, text.splitlines())
    if not len(db):
        why = f" ({db.reasons[0]})" if db.reasons else ""
        raise InputError(str(path), f"not an ASN database (MaxMind DB or iptoasn TSV){why}")
    return db
