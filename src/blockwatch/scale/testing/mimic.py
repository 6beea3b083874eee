"""A loopback stand-in for OONI's two public interfaces, for tests and benches.

One HTTP server on 127.0.0.1 answers as the raw-data bucket does (S3 ListObjectsV2 pages with
continuation tokens; ``raw/YYYYMMDD/HH/CC/TEST/*.jsonl.gz`` objects with ETags and Range
requests) and as OONI's API does (``/api/v1/measurements`` pages with ``metadata.next_url``;
``/api/v1/raw_measurement?measurement_uid=``). The answers follow the documented formats
(S3's API reference; OONI's API docs); the measurements are whatever the test gives it.
Faults on demand: each URL's first tries answered 429/503, each object's first download cut
half way, every object sent slowly (to kill a client mid-way).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

import orjson

from blockwatch.ooni.measurement import domain_of, measurement_id
from blockwatch.times import aware_utc

__all__ = ["Faults", "MimicRecord", "OoniMimic"]

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass
class Faults:
    """What goes wrong: ``busy`` first tries of every URL answer 429 then 503; ``drop``: the
    first download of each object stops half way; ``bytes_per_second``: objects trickle."""

    busy: int = 0
    drop: bool = False
    bytes_per_second: int | None = None


@dataclass(frozen=True)
class MimicRecord:
    """One measurement the mimic holds, with the keys the API filters on."""

    uid: str
    measured_at: datetime
    cc: str
    asn: str
    test_name: str
    domain: str
    text: bytes


@dataclass
class _State:
    records: list[MimicRecord]
    objects: dict[str, bytes]
    faults: Faults
    list_page: int
    api_page: int
    base_url: str = ""
    tries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dropped: set[str] = field(default_factory=set)
    log: list[tuple[str, int, int]] = field(default_factory=list)  # (path, status, body bytes)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _record(text: bytes) -> MimicRecord:
    doc: dict[str, Any] = orjson.loads(text)
    measured = aware_utc(datetime.fromisoformat(str(doc["measurement_start_time"])))
    uid = doc.get("measurement_uid")
    return MimicRecord(
        uid=uid if isinstance(uid, str) and uid else measurement_id(doc),
        measured_at=measured,
        cc=str(doc.get("probe_cc") or "ZZ"),
        asn=str(doc.get("probe_asn") or "AS0"),
        test_name=str(doc.get("test_name") or ""),
        domain=domain_of(doc["input"]) if isinstance(doc.get("input"), str) else "",
        text=text,
    )


def _objects(records: Sequence[MimicRecord], per_file: int) -> dict[str, bytes]:
    """The bucket: records grouped by hour, country and test, ``per_file`` to a gzip file."""
    groups: dict[str, list[MimicRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.measured_at, r.uid)):
        folder = r.test_name.replace("_", "")
        groups[f"raw/{r.measured_at:%Y%m%d/%H}/{r.cc}/{folder}/"].append(r)
    objects = {}
    for prefix, members in groups.items():
        parts = prefix.split("/")
        stem = f"{parts[1]}{parts[2]}_{parts[3]}_{parts[4]}"
        for n, start in enumerate(range(0, len(members), per_file)):
            body = b"".join(r.text + b"\n" for r in members[start : start + per_file])
            objects[f"{prefix}{stem}.n0.{n}.jsonl.gz"] = gzip.compress(body, mtime=0)
    return objects


class OoniMimic:
    """The server; use as a context manager. ``bucket_url`` and ``api_url`` are what the
    fetcher's ``--bucket-url`` and ``--api-url`` take."""

    def __init__(
        self,
        texts: Sequence[bytes],
        *,
        per_file: int = 4,
        list_page: int = 3,
        api_page: int = 5,
        faults: Faults | None = None,
    ) -> None:
        records = [_record(t) for t in texts]
        self.state = _State(
            records, _objects(records, per_file), faults or Faults(), list_page, api_page
        )
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.state = self.state  # type: ignore[attr-defined]
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.state.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def bucket_url(self) -> str:
        return self.url

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def objects(self) -> dict[str, bytes]:
        return self.state.objects

    @property
    def log(self) -> list[tuple[str, int, int]]:
        return self.state.log

    def holds(
        self,
        cc: str,
        since: datetime,
        until: datetime,
        test_name: str = "web_connectivity",
        domain: str | None = None,
        asn: str | None = None,
    ) -> list[MimicRecord]:
        """The measurements this mimic holds for a query (what a fetch must return)."""
        return [
            r
            for r in self.state.records
            if r.cc == cc
            and since <= r.measured_at < until
            and r.test_name == test_name
            and (domain is None or r.domain == domain)
            and (asn is None or r.asn == asn)
        ]

    def __enter__(self) -> OoniMimic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed or gone mid-answer is what some tests do on purpose


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read the state's log instead

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.state.lock:
            self.state.tries[self.path] += 1
            tries = self.state.tries[self.path]
        if tries <= self.state.faults.busy:
            status = 429 if tries == 1 else 503
            self._send(status, b"slow down", "text/plain", {"Retry-After": "0"})
            return
        if url.path == "/api/v1/measurements":
            self._send(200, self._api_page(query), "application/json")
        elif url.path == "/api/v1/raw_measurement":
            found = [r for r in self.state.records if r.uid == query.get("measurement_uid")]
            if found:
                self._send(200, found[0].text, "application/json")
            else:
                self._send(404, b'{"error": "measurement not found"}', "application/json")
        elif url.path == "/" and query.get("list-type") == "2":
            self._send(200, self._bucket_page(query), "application/xml")
        elif url.path.lstrip("/") in self.state.objects:
            self._object(url.path.lstrip("/"))
        else:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        with self.state.lock:
            self.state.log.append((self.path, status, len(body)))

    def _bucket_page(self, query: dict[str, str]) -> bytes:
        prefix = query.get("prefix", "")
        keys = sorted(k for k in self.state.objects if k.startswith(prefix))
        start = int(query.get("continuation-token", "0") or 0)
        size = min(int(query.get("max-keys", "1000")), self.state.list_page)
        page = keys[start : start + size]
        more = start + size < len(keys)
        contents = "".join(
            f"<Contents><Key>{escape(k)}</Key><LastModified>2024-03-01T00:00:00.000Z"
            f"</LastModified><ETag>&quot;{hashlib.md5(self.state.objects[k]).hexdigest()}"
            f"&quot;</ETag><Size>{len(self.state.objects[k])}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for k in page
        )
        token = f"<NextContinuationToken>{start + size}</NextContinuationToken>" if more else ""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{S3_NS}">'
            f"<Name>ooni-data-eu-fra</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{size}</MaxKeys>"
            f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{token}{contents}"
            "</ListBucketResult>"
        ).encode()

    def _api_page(self, q: dict[str, str]) -> bytes:
        since = aware_utc(datetime.fromisoformat(q["since"])) if "since" in q else None
        until = aware_utc(datetime.fromisoformat(q["until"])) if "until" in q else None
        matches = sorted(
            (
                r
                for r in self.state.records
                if r.cc == q.get("probe_cc", r.cc)
                and r.test_name == q.get("test_name", r.test_name)
                and r.domain == q.get("domain", r.domain)
                and r.asn == q.get("probe_asn", r.asn)
                and (since is None or r.measured_at >= since)
                and (until is None or r.measured_at < until)
            ),
            key=lambda r: (r.measured_at, r.uid),
        )
        offset = int(q.get("offset", "0"))
        limit = min(int(q.get("limit", "100")), self.state.api_page)
        page = matches[offset : offset + limit]
        more = offset + limit < len(matches)
        next_url = None
        if more:
            next_url = f"{self.state.base_url}/api/v1/measurements?" + urlencode(
                {**q, "offset": str(offset + limit)}
            )
        results: list[dict[str, Any]] = [
            {
                "anomaly": False,
                "confirmed": False,
                "failure": False,
                "input": None,
                "measurement_start_time": r.measured_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "measurement_uid": r.uid,
                "measurement_url": f"{self.state.base_url}/api/v1/raw_measurement?"
                + urlencode({"measurement_uid": r.uid}),
                "probe_asn": int(r.asn[2:]) if r.asn[2:].isdigit() else 0,
                "probe_cc": r.cc,
                "scores": {},
                "test_name": r.test_name,
            }
            for r in page
        ]
        metadata = {
            "count": len(matches),
            "current_page": offset // limit + 1 if limit else 1,
            "limit": limit,
            "next_url": next_url,
            "offset": offset,
            "pages": -(-len(matches) // limit) if limit else 1,
            "query_time": 0.001,
        }
        return orjson.dumps({"metadata": metadata, "results": results})

    def _object(self, key: str) -> None:
        body = self.state.objects[key]
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged[6:].rstrip("-").isdigit():
            start = min(int(ranged[6:].rstrip("-")), len(body))
        with self.state.lock:
            drop = self.state.faults.drop and key not in self.state.dropped
            self.state.dropped.add(key)
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        rest = body[start:]
        if drop:
            rest = rest[: len(rest) // 2]
        self._trickle(rest)
        with self.state.lock:
            self.state.log.append((self.path, 206 if start else 200, len(rest)))
        if drop:
            self.close_connection = True
            self.connection.close()

    def _trickle(self, data: bytes) -> None:
        rate = self.state.faults.bytes_per_second
        if rate is None:
            self.wfile.write(data)
            return
        step = max(1, rate // 20)
        for at in range(0, len(data), step):
            self.wfile.write(data[at : at + step])
            self.wfile.flush()
            time.sleep(0.05)
