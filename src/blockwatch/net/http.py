"""HTTP step: one HTTP/1.1 request over a stream the probe opened, body capped.

The response body is read up to ``body_cap`` bytes (``body_is_truncated`` beyond it).
The reads themselves are noted on the wire, under TLS, by the connection's
:class:`~blockwatch.net.wire.ReadTrace` (OONI's ``network_events``); the exchange marks
where it starts and ends in it, and a timeout keeps the partial trace.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass, field
from typing import Any

from blockwatch.net import failures
from blockwatch.net.clock import Clock
from blockwatch.net.wire import ReadTrace

MAX_HEADER_BYTES = 1 << 16
MAX_HEADERS = 100
READ_SIZE = 1 << 14
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


@dataclass(slots=True)
class HTTPExchange:
    """One request and its response (OONI ``requests`` entry plus its read events)."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    transaction_id: int
    t0: float
    t: float = 0.0
    failure: str | None = None
    address: str | None = None
    x_transport: str = "tcp"
    status_code: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    body_is_truncated: bool = False
    trace: ReadTrace | None = None  # the connection's reads (None: not traced)

    @property
    def title(self) -> str:
        match = _TITLE.search(self.body[: 1 << 16])
        return match.group(1).decode("utf-8", "replace").strip()[:512] if match else ""

    def header(self, name: str) -> str | None:
        for key, value in reversed(self.response_headers):
            if key.lower() == name.lower():
                return value
        return None

    def to_ooni(self) -> dict[str, Any]:
        response: dict[str, Any] = {
            "code": self.status_code or 0,
            "headers": {k: v for k, v in self.response_headers},
            "headers_list": [[k, v] for k, v in self.response_headers],
            "body": _body_value(self.body),
            "body_is_truncated": self.body_is_truncated,
            "body_length": len(self.body),
            "x_title": self.title,
        }
        return {
            "failure": self.failure,
            "request": {
                "url": self.url,
                "method": self.method,
                "headers": {k: v for k, v in self.request_headers},
                "headers_list": [[k, v] for k, v in self.request_headers],
                "body": "",
                "tor": {"is_tor": False, "exit_ip": None, "exit_name": None},
                "x_transport": self.x_transport,
            },
            "response": response,
            "address": self.address,
            "transaction_id": self.transaction_id,
            "t0": self.t0,
            "t": self.t,
        }

    def network_events(self) -> list[dict[str, Any]]:
        """The connection's reads and phase marks (TLS handshake included), OONI's shape."""
        if self.trace is None:
            return []
        return self.trace.network_events(self.transaction_id, self.address)


def _body_value(body: bytes) -> str | dict[str, str]:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"format": "base64", "data": base64.b64encode(body).decode()}


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    record: HTTPExchange,
    *,
    target: str,
    timeout: float,
    body_cap: int,
    clock: Clock,
    body: bytes = b"",
) -> HTTPExchange:
    """Send ``record``'s request (path ``target``) and read the response into ``record``.

    Closes the stream. On failure the record keeps what arrived before it, and the trace
    (``record.trace``) the reads up to the failure.
    """
    if record.trace is not None:
        record.trace.mark("http_transaction_start")
    try:
        async with asyncio.timeout(timeout):
            head = f"{record.method} {target} HTTP/1.1\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in record.request_headers)
            writer.write((head + "\r\n").encode("latin-1") + body)
            await writer.drain()
            await _read_head(reader, record)
            await _read_body(reader, record, body_cap)
    except Exception as exc:
        record.failure = failures.failure_string(exc)
    finally:
        writer.transport.abort()  # Connection: close; no lingering on hostile peers
    record.t = clock.now()
    if record.trace is not None:
        record.trace.mark("http_transaction_done")
    return record


async def _read_head(reader: asyncio.StreamReader, record: HTTPExchange) -> None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ValueError("response head too long") from exc
    except asyncio.IncompleteReadError as exc:
        raise EOFError("connection closed before the response head") from exc
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError("response head too long")
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    record.status_code = int(parts[1])
    for line in lines[1 : MAX_HEADERS + 1]:
        if ":" in line:
            key, _, value = line.partition(":")
            record.response_headers.append((key.strip(), value.strip()))


async def _read_body(reader: asyncio.StreamReader, record: HTTPExchange, cap: int) -> None:
    """Read the body into ``record.body`` (up to ``cap``); keeps what came if it fails."""
    if record.method == "HEAD" or record.status_code in (204, 304):
        return
    chunks: list[bytes] = []
    size = 0

    async def take(n: int) -> bytes:
        nonlocal size
        data = await reader.read(n)
        if data:
            chunks.append(data)
            size += len(data)
        return data

    try:
        if "chunked" in (record.header("Transfer-Encoding") or "").lower():
            while True:
                line = await reader.readline()
                if not line:
                    raise EOFError("connection closed inside a chunked body")
                want = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if want == 0:
                    break
                while want > 0 and size <= cap:
                    data = await take(min(want, READ_SIZE, cap + 1 - size))
                    if not data:
                        raise EOFError("connection closed inside a chunk")
                    want -= len(data)
                if size > cap:
                    break
                await reader.readexactly(2)
        else:
            length_text = record.header("Content-Length") or ""
            remaining = int(length_text) if length_text.isdigit() else None
            while (remaining is None or remaining > 0) and size <= cap:
                want = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
                data = await take(min(want, cap + 1 - size))
                if not data:
                    if remaining is not None:
                        raise EOFError("connection closed before Content-Length bytes")
                    break
                if remaining is not None:
                    remaining -= len(data)
    finally:
        # One byte past the cap is how we know there was more: OONI's body_is_truncated.
        record.body_is_truncated = size > cap
        record.body = b"".join(chunks)[:cap]
