"""One OONI measurement: the df-000 base keys, checked, with the raw document kept.

Parsing is deliberately shallow: the base keys are validated and typed here, the test
keys are left as the raw dict (``blockwatch.analysis.observations`` reads the ones it
needs, lazily). No copy of the document is made, so this stays near orjson's speed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from blockwatch.errors import MalformedMeasurement
from blockwatch.times import aware_utc

# OONI's base keys we require (df-000): a measurement without them cannot be placed in time.
REQUIRED_KEYS = ("test_name", "measurement_start_time")
# The times a real measurement can carry: OONI began in 2012, and a time from 2100 on is a
# probe's broken clock or a forgery (9999-12-31 overflowed every date sum downstream).
EARLIEST: Final = datetime(2012, 1, 1, tzinfo=UTC)
UNTIL: Final = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Measurement:
    """The keys every stage needs, plus the raw document (treat both as read-only).

    Not frozen: a frozen dataclass pays a setattr detour per field, and this is built
    once per measurement on the ingest hot path.
    """

    measurement_id: str
    report_id: str
    test_name: str
    input: str
    domain: str
    probe_cc: str
    probe_asn: str
    measured_at: datetime
    test_keys: dict[str, Any] | None
    raw: dict[str, Any]
    source: str = "-"
    line: int | None = None


def parse_measurement(doc: Any, source: str = "-", line: int | None = None) -> Measurement:
    """Check the base keys of one decoded document; raise MalformedMeasurement if unusable."""
    if not isinstance(doc, dict):
        raise MalformedMeasurement(source, line, f"not a JSON object but {type(doc).__name__}")
    for key in REQUIRED_KEYS:
        if key not in doc:
            raise MalformedMeasurement(source, line, f"missing key {key!r}")
    test_name = doc["test_name"]
    if not isinstance(test_name, str) or not test_name:
        raise MalformedMeasurement(source, line, "test_name is not a non-empty string")
    measured_at = parse_time(doc["measurement_start_time"], source, line)
    test_keys = doc.get("test_keys")
    if test_keys is not None and not isinstance(test_keys, dict):
        raise MalformedMeasurement(
            source, line, f"test_keys is {type(test_keys).__name__}, not an object"
        )
    url = _input_of(doc.get("input"), source, line)
    return Measurement(
        measurement_id=measurement_id(doc),
        report_id=_str_or_empty(doc.get("report_id"), "report_id", source, line),
        test_name=test_name,
        input=url,
        domain=domain_of(url),
        probe_cc=_str_or_empty(doc.get("probe_cc"), "probe_cc", source, line).upper() or "ZZ",
        probe_asn=_asn(doc.get("probe_asn"), source, line),
        measured_at=measured_at,
        test_keys=test_keys,
        raw=doc,
        source=source,
        line=line,
    )


def measurement_id(doc: dict[str, Any]) -> str:
    """OONI's ``measurement_uid`` where present, else a stable hash (docs/schema.md)."""
    uid = doc.get("measurement_uid")
    if isinstance(uid, str) and uid:
        return uid
    report, url, start = doc.get("report_id"), doc.get("input"), doc.get("measurement_start_time")
    if not report:
        # Without a report id (OONI's QA fixtures, hand-made files) report|input|time is not
        # unique: distinct measurements would collapse into one. The content is what is stable.
        try:
            canonical = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)
        except (orjson.JSONEncodeError, TypeError):  # lone surrogates, extreme nesting
            canonical = repr(doc).encode("utf-8", "surrogatepass")
        return hashlib.sha256(b"doc|" + canonical).hexdigest()[:32]
    key = (
        f"{'' if report is None else report}|{'' if url is None else url}|"
        f"{'' if start is None else start}"
    )
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def parse_time(value: Any, source: str = "-", line: int | None = None) -> datetime:
    """OONI times: "2024-02-12 20:33:47" (UTC, naive) or ISO 8601 with Z or an offset."""
    if not isinstance(value, str):
        raise MalformedMeasurement(source, line, "measurement_start_time is not a string")
    try:
        # Appending the offset is ~5x cheaper than datetime.replace(tzinfo=...) afterwards.
        when = datetime.fromisoformat(value + "+00:00" if len(value) == 19 else value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        elif when.tzinfo is not UTC:
            when = when.astimezone(UTC)  # OverflowError at the ends of the calendar
    except (ValueError, OverflowError) as exc:
        raise MalformedMeasurement(
            source, line, f"measurement_start_time {value[:40]!r} is not a time"
        ) from exc
    if not EARLIEST <= when < UNTIL:
        raise MalformedMeasurement(
            source,
            line,
            f"measurement_start_time {value[:40]!r} is outside 2012-01-01 .. 2099-12-31",
        )
    return when


def report_id(start: datetime, test_name: str, cc: str, asn: str, suffix: str) -> str:
    """OONI's report id shape: ``20240217T120000Z_webconnectivity_PK_17557_n1_<suffix>``."""
    stamp = aware_utc(start).strftime("%Y%m%dT%H%M%SZ")
    test = test_name.replace("_", "")
    return f"{stamp}_{test}_{cc}_{asn.removeprefix('AS')}_n1_{suffix}"


@lru_cache(maxsize=65536)
def domain_of(url: str) -> str:
    """The lower-case host of a URL input ("" when there is none); bare hosts pass through."""
    if not url:
        return ""
    if "://" not in url:
        # Inputs like "ooni.org" or "8.8.8.8:53" (dnscheck, urlgetter) are already hosts.
        host = url.split("/", 1)[0]
        if host.startswith("["):
            return host[1 : host.find("]")].lower() if "]" in host else host.lower()
        return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _input_of(value: Any, source: str, line: int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        # Some legacy tests (e.g. tor_list) store a list of targets; keep them readable.
        return " ".join(value)
    raise MalformedMeasurement(source, line, f"input is {type(value).__name__}, not a string")


def _str_or_empty(value: Any, key: str, source: str, line: int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise MalformedMeasurement(source, line, f"{key} is {type(value).__name__}, not a string")


def _asn(value: Any, source: str, line: int | None) -> str:
    # OONI stores "AS17557"; the explorer's meta API stores the integer 17557.
    if value is None:
        return "AS0"
    if isinstance(value, bool):
        raise MalformedMeasurement(source, line, "probe_asn is a boolean")
    if isinstance(value, int):
        return f"AS{value}"
    if isinstance(value, str):
        if value.isdigit():
            return f"AS{value}"
        return value.upper() if value else "AS0"
    raise MalformedMeasurement(source, line, f"probe_asn is {type(value).__name__}")
