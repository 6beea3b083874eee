"""OONI's collector protocol (ooni/spec backends/bk-003), the pure part: checking requests,
making report ids, and the measurement uid a submission is acknowledged with.

OONI probes send no measurement uid, and a probe that retries after a lost answer, or after
reopening a report, sends the same measurement again (bk-003 §3.2 tells it to rewrite the
report id). So the uid is a hash of the submitted content without its report id: the same
measurement always gets the same uid, and the store's primary key makes a resubmission a no-op.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from blockwatch.errors import MalformedMeasurement, SubmissionError
from blockwatch.ooni.measurement import parse_measurement

__all__ = [
    "BACKEND_VERSION",
    "OpenReport",
    "check_open",
    "check_update",
    "measurement_uid",
    "new_report_id",
    "valid_report_id",
]

BACKEND_VERSION: Final = "2.0.0-blockwatch"
_ASN = re.compile(r"^AS[0-9]{1,10}$")
_CC = re.compile(r"^[A-Z]{2}$")
_SOFTWARE = re.compile(r"^[0-9A-Za-z_.+-]{1,64}$")
_TEST_NAME = re.compile(r"^[a-zA-Z0-9_\- ]{1,64}$")
_REPORT_ID = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


@dataclass(frozen=True, slots=True)
class OpenReport:
    """What a probe said when it opened a report (bk-003 §3.1)."""

    report_id: str
    test_name: str
    probe_cc: str
    probe_asn: str
    software_name: str
    software_version: str

    def to_json(self) -> dict[str, str]:
        return {
            "test_name": self.test_name,
            "probe_cc": self.probe_cc,
            "probe_asn": self.probe_asn,
            "software_name": self.software_name,
            "software_version": self.software_version,
        }


def _field(body: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise SubmissionError(400, f"{name}: missing or not of the form {pattern.pattern}")
    return value


def check_open(body: Any, now: datetime) -> OpenReport:
    """The report a valid "open report" body opens (with a fresh id), or SubmissionError."""
    if not isinstance(body, dict):
        raise SubmissionError(400, "the body must be a JSON object")
    if body.get("format") != "json":
        raise SubmissionError(400, 'format: only "json" is accepted (YAML reports are legacy)')
    if "content" in body:
        raise SubmissionError(400, "content: opening a report with content is not supported")
    asn = _field(body, "probe_asn", _ASN)
    cc = _field(body, "probe_cc", _CC)
    test = _field(body, "test_name", _TEST_NAME)
    name = _field(body, "software_name", _SOFTWARE)
    version = _field(body, "software_version", _SOFTWARE)
    _field(body, "test_version", _SOFTWARE)
    return OpenReport(new_report_id(now, test, asn), test, cc, asn, name, version)


def new_report_id(now: datetime, test_name: str, asn: str) -> str:
    """``20240217T120000Z_AS17557_<256 random bits>``, as OONI's collector makes them."""
    del test_name  # kept in the report's state; the id itself stays opaque (bk-003 §3.1)
    return f"{now:%Y%m%dT%H%M%SZ}_{asn}_{secrets.token_urlsafe(32)}"


def valid_report_id(report_id: str) -> bool:
    return bool(_REPORT_ID.match(report_id))


def check_update(body: Any, report: OpenReport) -> dict[str, Any]:
    """The measurement of a valid "update report" body for ``report`` (bk-003 §3.2)."""
    if not isinstance(body, dict):
        raise SubmissionError(400, "the body must be a JSON object")
    if body.get("format") != "json":
        raise SubmissionError(400, 'format: only "json" is accepted')
    content = body.get("content")
    if not isinstance(content, dict):
        raise SubmissionError(400, "content: must be a JSON object (one measurement)")
    if content.get("report_id") != report.report_id:
        raise SubmissionError(400, "content.report_id does not match the report in the URL")
    if content.get("test_name") != report.test_name:
        raise SubmissionError(400, "content.test_name is not the test the report was opened for")
    try:
        parse_measurement(content, f"report {report.report_id}")
    except MalformedMeasurement as err:
        raise SubmissionError(400, f"not an OONI measurement: {err.reason}") from err
    return content


def measurement_uid(content: dict[str, Any]) -> str:
    """The uid a measurement is stored and acknowledged under (OONI's shape:
    ``20240217120000.000000_PK_webconnectivity_<16 hex>``), stable for the same content."""
    # A uid the probe sends is not trusted: it could collide with another measurement's.
    body = {k: v for k, v in content.items() if k not in ("report_id", "measurement_uid")}
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise SubmissionError(400, f"content cannot be encoded as JSON: {exc}") from exc
    digest = hashlib.sha256(canonical).hexdigest()
    start = parse_measurement(content).measured_at
    test = str(content.get("test_name", "")).replace("_", "")
    return f"{start:%Y%m%d%H%M%S.%f}_{content.get('probe_cc', 'ZZ')}_{test}_{digest[:16]}"
