"""Checking an evidence report: its data against the store, its page against its seal, and
its signature against the observatory's published public key.

    data       the SHA-256 the report states, recomputed from the store over the measurement
               ids embedded in it (web.report: canonical JSONL)
    page       the SHA-256 of every byte of the file but the seal, against the seal (web.seal);
               also that the digest shown on the page is the one embedded as data
    signature  with a public key: the seal is signed by that key, and the signature is valid

A report is OK when every check made found nothing; each problem is said in words.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from blockwatch import signing
from blockwatch.errors import StoreError
from blockwatch.store import Reads, Store
from blockwatch.web import seal
from blockwatch.web.report import (
    META_ID,
    REPORT_FORMAT,
    ReportError,
    canonical_lines,
    collect,
    data_sha256,
)

__all__ = ["Verification", "read_meta", "verify", "write_data"]

_META = re.compile(
    rb'<script type="application/json" id="' + META_ID.encode() + rb'">(.*?)</script>', re.S
)
_SHOWN_SHA = re.compile(rb'id="sha256">([^<]*)<')


@dataclass(slots=True)
class Verification:
    stated: str | None  # the data SHA-256 the report states
    recomputed: str | None  # the same from the store (None: not recomputed)
    measurements: int
    problems: list[str] = field(default_factory=list)
    claimed_key: str | None = None  # the key id its seal names
    signed_by: str | None = None  # that key, once its signature was checked valid
    format: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _read(report_path: Path) -> bytes:
    try:
        return Path(report_path).read_bytes()
    except OSError as exc:
        raise ReportError(f"{report_path}: cannot read an HTML report: {exc}") from exc


def _meta(document: bytes) -> dict[str, Any] | None:
    m = _META.search(document)
    if not m:
        return None
    try:
        meta = orjson.loads(m.group(1))
    except orjson.JSONDecodeError:
        return None
    return meta if isinstance(meta, dict) else None


def read_meta(report_path: str | Path) -> dict[str, Any]:
    """The scope, ids and checksum embedded in a report written by ``report.build``."""
    document = _read(Path(report_path))
    meta = _meta(document)
    if meta is None:
        if _META.search(document) is None:
            raise ReportError(f"{report_path}: not a blockwatch HTML report (no embedded data)")
        raise ReportError(f"{report_path}: embedded data unreadable")
    return meta


def _ids(meta: dict[str, Any]) -> list[str] | None:
    ids = meta.get("measurement_ids")
    if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
        return ids
    return None


def _data_digest(db_path: str | Path, ids: list[str]) -> tuple[str | None, str | None]:
    """(recomputed digest, None) or (None, why the store could not give the data)."""
    with Store(db_path, read_only=True) as store:
        try:
            return data_sha256(Reads(store), ids), None
        except (StoreError, orjson.JSONDecodeError) as exc:
            # Stored data that no longer reads (a raw block that does not decompress, a text
            # that is not JSON) cannot back the report: a mismatch, not a crash.
            return None, f"the stored data is unreadable: {exc}"


def verify(
    report_path: str | Path,
    db_path: str | Path | None,
    *,
    public_key: str | Path | None = None,
) -> Verification:
    """Check a report: its page against its seal, its signature against ``public_key`` when
    given, and its data against the store at ``db_path`` (None: the page alone)."""
    public = signing.load_public_key(public_key) if public_key is not None else None
    document = _read(Path(report_path))
    found = seal.find(document)
    meta = _meta(document)
    if found is None and meta is None:
        raise ReportError(f"{report_path}: not a blockwatch HTML report (no embedded data)")
    sealed = seal.check(found, public)
    ids = _ids(meta or {})
    stated = (meta or {}).get("sha256")
    result = Verification(
        stated if isinstance(stated, str) else None,
        None,
        len(ids or []),
        list(sealed.problems),
        sealed.claimed_key,
        sealed.signed_by,
        (meta or {}).get("format") if isinstance((meta or {}).get("format"), int) else None,
    )
    if meta is None or ids is None or result.stated is None:
        result.problems.append("the data embedded in the report is unreadable")
        return result
    if result.format != REPORT_FORMAT:
        result.problems.append(f"report format {result.format or 1}: this blockwatch checks "
                               f"format {REPORT_FORMAT}")  # fmt: skip
    shown = _SHOWN_SHA.search(document)
    if shown is None or shown.group(1).decode(errors="replace") != result.stated:
        result.problems.append("the SHA-256 shown on the page is not the one embedded as data")
    if db_path is not None:
        result.recomputed, why = _data_digest(db_path, ids)
        if why is not None:
            result.problems.append(why)
        elif result.recomputed != result.stated:
            result.problems.append("the data differs: the store gives another SHA-256")
    return result


def write_data(db_path: str | Path, report_path: str | Path, out: str | Path) -> str:
    """Write the canonical JSONL a report's checksum is over; returns its SHA-256."""
    ids = _ids(read_meta(Path(report_path)))
    if ids is None:
        raise ReportError(f"{report_path}: embedded measurement ids unreadable")
    h = hashlib.sha256()
    with Store(db_path, read_only=True) as store, Path(out).open("wb") as fh:
        for line in canonical_lines(*collect(Reads(store), ids)):
            fh.write(line)
            h.update(line)
    return h.hexdigest()
