"""Annotations from files: OONI's findings format and a small TOML (pure parsing, no I/O).

OONI publishes its findings (incidents) as ``{"incidents": [{"id", "title",
"short_description", "start_time", "end_time", "CCs", "domains", "links", ...}]}``; a
finding about several countries becomes one annotation per country. The TOML form:

    [[annotation]]
    date = 2024-02-22              # a date, or a time (UTC unless it has an offset)
    end = 2024-02-23               # optional: a period
    country = "PK"                 # optional: every country when absent
    domains = ["x.com"]            # optional: every domain when absent
    title = "Sindh High Court orders X restored"
    text = "..."                   # optional
    url = "https://..."            # optional

Every field is untrusted: a wrong one raises InputError naming the file and the entry.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import orjson

from blockwatch.analysis.records import Annotation
from blockwatch.errors import InputError
from blockwatch.times import parse_iso

__all__ = ["annotation_id", "from_findings", "from_toml", "load", "make_annotation"]

MAX_TITLE = 300
MAX_TEXT = 4_000


def annotation_id(start: datetime, country: str | None, title: str) -> str:
    """Same date, country and title: same id (importing twice replaces, never adds)."""
    text = "|".join((start.isoformat(), country or "", title))
    return "a-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _when(value: Any, where: str, ctx: str, key: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return datetime.combine(date.fromisoformat(value), time(), UTC)
            return parse_iso(value)
        except ValueError as exc:
            raise InputError(where, f"{ctx}: {key} {value!r} is not a date or time") from exc
    raise InputError(where, f"{ctx}: {key} is {type(value).__name__}, not a date")


def _text(value: Any, where: str, ctx: str, key: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(where, f"{ctx}: {key} is {type(value).__name__}, not text")
    return value.strip()[:limit]


def _domains(value: Any, where: str, ctx: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise InputError(where, f"{ctx}: domains must be a list of names")
    return tuple(sorted({d.strip().lower().rstrip(".") for d in value if d.strip()}))


def _country(value: Any, where: str, ctx: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.strip()) != 2 or not value.strip().isalpha():
        raise InputError(where, f"{ctx}: country {value!r} is not a two-letter code")
    return value.strip().upper()


def make_annotation(
    entry: dict[str, Any], where: str, ctx: str, source: str, ident: str | None = None
) -> Annotation:
    """One annotation from a table of ``date/start, end, country, domains, title, text, url``."""
    start = _when(entry.get("date", entry.get("start")), where, ctx, "date")
    if start is None:
        raise InputError(where, f"{ctx}: no date")
    end = _when(entry.get("end"), where, ctx, "end")
    if end is not None and end < start:
        raise InputError(where, f"{ctx}: ends before it starts")
    title = _text(entry.get("title"), where, ctx, "title", MAX_TITLE)
    if not title:
        raise InputError(where, f"{ctx}: no title")
    cc = _country(entry.get("country"), where, ctx)
    url = _text(entry.get("url"), where, ctx, "url", 2_000) or None
    if url is not None and not url.startswith(("https://", "http://")):
        raise InputError(where, f"{ctx}: url must be http(s)")
    return Annotation(
        annotation_id=ident or annotation_id(start, cc, title),
        start=start,
        end=end,
        probe_cc=cc,
        domains=_domains(entry.get("domains"), where, ctx),
        title=title,
        text=_text(entry.get("text"), where, ctx, "text", MAX_TEXT),
        url=url,
        source=source,
    )


def from_toml(text: str, where: str) -> list[Annotation]:
    """The ``[[annotation]]`` entries of a TOML text (``where`` names it in errors)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(where, f"not TOML: {exc}") from exc
    entries = doc.get("annotation", [])
    if not isinstance(entries, list):
        raise InputError(where, "annotation must be an array of tables ([[annotation]])")
    out = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise InputError(where, f"annotation #{i} is not a table")
        out.append(make_annotation(entry, where, f"annotation #{i}", "toml"))
    return out


def _finding(item: dict[str, Any], where: str, ctx: str) -> Iterable[Annotation]:
    links = item.get("links") or []
    url = next((u for u in links if isinstance(u, str) and u.startswith("https://")), None)
    ccs = item.get("CCs") or [None]
    if not isinstance(ccs, list):
        raise InputError(where, f"{ctx}: CCs must be a list")
    base = str(item.get("id") or "")
    for cc in ccs:
        entry = {
            "date": item.get("start_time"),
            "end": item.get("end_time"),
            "country": cc,
            "domains": item.get("domains"),
            "title": item.get("title"),
            "text": item.get("short_description"),
            "url": url,
        }
        ident = f"ooni-{base}-{cc or 'all'}" if base else None
        yield make_annotation(entry, where, ctx, "ooni-findings", ident)


def from_findings(data: bytes, where: str) -> list[Annotation]:
    """OONI's findings (``{"incidents": [...]}``, or the list itself); unpublished ones are
    left out."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(where, f"not JSON: {exc}") from exc
    items = doc.get("incidents") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise InputError(where, 'expected {"incidents": [...]} (OONI findings)')
    out: list[Annotation] = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InputError(where, f"finding #{i} is not an object")
        if item.get("published") is False:
            continue
        out.extend(_finding(item, where, f"finding #{i} ({item.get('id', '?')})"))
    return out


def load(path: str | Path) -> list[Annotation]:
    """The annotations of a file: OONI findings (``.json``) or our TOML (``.toml``)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(str(p), f"cannot read: {exc}") from exc
    if p.suffix.lower() == ".json":
        return from_findings(data, str(p))
    if p.suffix.lower() == ".toml":
        try:
            return from_toml(data.decode("utf-8"), str(p))
        except UnicodeDecodeError as exc:
            raise InputError(str(p), f"not UTF-8: {exc}") from exc
    raise InputError(str(p), "expected OONI findings (.json) or annotations (.toml)")
