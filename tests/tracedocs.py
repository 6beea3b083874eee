"""``blockwatch_trace`` measurements as the probe writes them, built without a network (the
hop analysis's findings given), for the pages', the report's and the names' tests."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from blockwatch.probe.trace import TEST_NAME, TEST_VERSION, sentence, summary


def finding(
    hop: int,
    address: str | None,
    asn: str | None,
    as_org: str | None = None,
    method: str = "tls",
    kind: str = "reset",
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "method": method,
        "kind": kind,
        "hop": hop,
        "address": address,
        "after": None,
        "asn": asn,
        "as_org": as_org,
        "after_asn": None,
    }
    t["sentence"] = sentence(t)
    return t


def trace_doc(
    when: datetime,
    cc: str,
    asn: str,
    url: str,
    found: list[dict[str, Any]],
    network_name: str | None = None,
    lying_resolver: str | None = None,
) -> dict[str, Any]:
    resolver = {
        "address": "10.0.0.53",
        "hop": 1,
        "rcode": "NOERROR",
        "answers": ["10.0.0.9"],
        "expected": None,
        "lies": lying_resolver is not None,
        "why": lying_resolver,
    }
    keys: dict[str, Any] = {
        "resolver": resolver,
        "dns_traces": {},
        "dns_tampering": None,
        "address": "10.0.0.9",
        "path": [],
        "traces": {},
        "tampering": found[0] if found else None,
        "tamperings": found,
        "endpoint_tampering": resolver if lying_resolver else None,
    }
    keys["summary"] = summary(keys)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    return {
        "annotations": {"engine_name": "blockwatch", "platform": "linux"},
        "data_format_version": "0.2.0",
        "input": url,
        "measurement_start_time": stamp,
        "test_start_time": stamp,
        "probe_asn": asn,
        "probe_cc": cc,
        "probe_ip": "127.0.0.1",
        "probe_network_name": network_name,
        "report_id": f"{when:%Y%m%dT%H%M%SZ}_{TEST_NAME}_{cc}_{asn[2:]}_n1_{_tag(url, stamp)}",
        "resolver_ip": "10.0.0.53",
        "software_name": "blockwatch",
        "software_version": "0",
        "test_name": TEST_NAME,
        "test_version": TEST_VERSION,
        "test_runtime": 1.0,
        "test_keys": keys,
    }


def _tag(url: str, stamp: str) -> str:
    return f"{zlib.crc32((url + stamp).encode()):010d}"
