"""Build small web_connectivity measurements shaped like our probe's, for rule tables.

Defaults describe a healthy fetch of http://blocked.lab/ (10.66.1.10, AS64500): every step
succeeds on both sides. Tests override the one step a censor interferes with.
"""

from __future__ import annotations

from typing import Any

SITE_IP = "10.66.1.10"
PAGE = "<html><head><title>Lab origin welcome page</title></head><body>" + "x" * 2000
PAGE += "</body></html>"


def measurement(
    url: str = "http://blocked.lab/",
    *,
    answers: list[str] | None = None,
    dns_failure: str | None = None,
    control_addrs: list[str] | None = None,
    control_dns_failure: str | None = None,
    tcp_failure: str | None = None,
    tls_failure: str | None = None,
    http_failure: str | None = None,
    status: int | None = 200,
    body: str = PAGE,
    headers: dict[str, str] | None = None,
    truncated: bool = False,
    reads: list[tuple[float, int]] | None = None,
    control: bool = True,
    control_http_failure: str | None = None,
    control_body_length: int | None = None,
) -> dict[str, Any]:
    """One OONI web_connectivity document (see the module docstring for defaults)."""
    host = url.split("/")[2]
    https = url.startswith("https://")
    port = 443 if https else 80
    ips = [SITE_IP] if answers is None else answers
    queries = [
        {
            "engine": engine,
            "hostname": host,
            "query_type": "A",
            "failure": dns_failure,
            "answers": None
            if dns_failure
            else [{"answer_type": "A", "ipv4": ip, "asn": 0} for ip in ips],
        }
        for engine in ("system", "udp")
    ]
    tcp = [
        {
            "ip": ip,
            "port": port,
            "status": {"success": tcp_failure is None, "failure": tcp_failure},
            "transaction_id": 1,
        }
        for ip in ([] if dns_failure else ips)
    ]
    tls = []
    if https and not dns_failure and tcp_failure is None:
        tls = [
            {
                "address": f"{ip}:443",
                "server_name": host,
                "failure": tls_failure,
                "no_tls_verify": False,
                "transaction_id": 1,
            }
            for ip in ips
        ]
    requests = []
    reached = not dns_failure and tcp_failure is None and tls_failure is None
    if reached:
        requests = [
            {
                "request": {"url": url, "method": "GET", "headers": {}},
                "response": {
                    "code": status or 0,
                    "headers": headers if headers is not None else {"Content-Type": "text/html"},
                    "body": body if status else "",
                    "body_is_truncated": truncated,
                },
                "failure": http_failure,
                "transaction_id": 1,
                "address": f"{ips[0]}:{port}",
            }
        ]
    events = [
        {"operation": "read", "num_bytes": n, "t": t, "transaction_id": 1} for t, n in (reads or [])
    ]
    caddrs = [SITE_IP] if control_addrs is None else control_addrs
    ctrl: dict[str, Any] = {
        "dns": {"failure": control_dns_failure, "addrs": [] if control_dns_failure else caddrs},
        "tcp_connect": {f"{ip}:{port}": {"status": True, "failure": None} for ip in caddrs},
        "tls_handshake": {f"{ip}:443": {"status": True, "failure": None} for ip in caddrs},
        "http_request": {
            "failure": control_http_failure,
            "status_code": -1 if control_http_failure else 200,
            "body_length": -1
            if control_http_failure
            else (control_body_length if control_body_length is not None else len(PAGE)),
            "title": "Lab origin welcome page",
            "headers": {"Content-Type": "text/html"},
        },
        "ip_info": {ip: {"asn": 0, "flags": 1} for ip in caddrs},
    }
    return {
        "test_name": "web_connectivity",
        "test_version": "0.5.28",
        "measurement_start_time": "2024-02-17 12:00:00",
        "input": url,
        "report_id": "synthetic",
        "probe_cc": "PK",
        "probe_asn": "AS17557",
        "test_keys": {
            "queries": queries,
            "tcp_connect": tcp,
            "tls_handshakes": tls,
            "requests": requests,
            "network_events": events,
            "control": ctrl if control else None,
            "control_failure": None if control else "generic_timeout_error",
        },
    }
