"""The control helper's HTTP server: OONI's test-helper protocol over plain HTTP/1.1.

GET (any path) is the health check; POST carries a control request. Requests are
bounded (head and body size, concurrent work, connections in all and per client, and one
deadline to read head and body, so a client trickling bytes is cut off); a malformed request
gets a clear 400, never a crash. One request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from blockwatch import __version__
from blockwatch.control.helper import Helper, HelperConfig
from blockwatch.control.slots import FairSlots
from blockwatch.errors import ControlError

MAX_HEAD = 1 << 14
LINGER = 1.0  # seconds a closing connection waits for the client to read and hang up
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ControlServer:
    """``async with ControlServer(config, host, port) as server: server.url``."""

    def __init__(self, config: HelperConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.helper = Helper(config)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._work = FairSlots(self.helper.config.max_concurrent)
        self._connections = 0
        self._per_client: Counter[str] = Counter()
        self._closing = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def serve_forever(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT (then close cleanly and return)."""
        await self.start()
        if ready:
            ready(self.url)
        assert self._server is not None
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = self.helper.config
        deadline = asyncio.get_running_loop().time() + config.read_timeout
        client = client_key(writer.get_extra_info("peername"))
        refusal = self._admit(client)
        if refusal is not None:
            _send(writer, 503, {"error": refusal})
            await self._close(reader, writer, LINGER)
            return
        answered = False
        try:
            status, body = await self._dispatch(reader, deadline, client)
            _send(writer, status, body)
            answered = True
        except Exception:
            pass  # the peer went away or misbehaved; nothing to answer
        finally:
            self._release(client)
            if not answered:
                writer.transport.abort()
        if answered:
            await self._close(reader, writer, config.read_timeout)

    def _admit(self, client: str) -> str | None:
        """Count a new connection in, or say why it is refused (then it is not counted)."""
        config = self.helper.config
        if self._per_client[client] >= config.max_connections_per_client:
            return "too many connections from your address"
        if self._connections >= config.max_connections:
            return "too many connections"
        self._connections += 1
        self._per_client[client] += 1
        return None

    def _release(self, client: str) -> None:
        self._connections -= 1
        self._per_client[client] -= 1
        if self._per_client[client] <= 0:
            del self._per_client[client]

    async def _close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drain_timeout: float
    ) -> None:
        """Deliver the answer and close so the client can read it (see :func:`_finish`).

        The connection no longer counts against any share by then (a probe at the cap must
        not find its share full of answered requests); past ``max_connections`` closing at
        once, the rest are cut at once.
        """
        try:
            if self._closing < self.helper.config.max_connections:
                self._closing += 1
                try:
                    await _finish(reader, writer, drain_timeout)
                finally:
                    self._closing -= 1
        except Exception:
            pass  # a peer that does not read or hang up gets cut
        finally:
            writer.transport.abort()

    async def _dispatch(
        self, reader: asyncio.StreamReader, deadline: float, client: str
    ) -> tuple[int, dict[str, Any]]:
        """Read one request by ``deadline`` (head and body together) and answer it."""
        try:
            async with asyncio.timeout_at(deadline):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, ValueError):
            return 431, {"error": "request head too large"}
        except TimeoutError:
            return 408, {"error": "request not received in time"}
        except asyncio.IncompleteReadError:
            return 400, {"error": "incomplete request"}
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, {"error": "malformed request line"}
        method = parts[0]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if method in ("GET", "HEAD"):
            return 200, {"status": "ok", "software": "blockwatch", "version": __version__}
        if method != "POST":
            return 405, {"error": "use GET for health, POST for control requests"}
        length_text = headers.get("content-length", "")
        if not length_text.isdigit():
            return 400, {"error": "POST needs a Content-Length"}
        length = int(length_text)
        if length > self.helper.config.max_request_bytes:
            return 413, {"error": f"request larger than {self.helper.config.max_request_bytes}"}
        try:
            async with asyncio.timeout_at(deadline):
                raw = await reader.readexactly(length)
            payload = orjson.loads(raw)
        except TimeoutError:
            return 408, {"error": "request body not received in time"}
        except asyncio.IncompleteReadError:
            return 400, {"error": "incomplete request body"}
        except orjson.JSONDecodeError as exc:
            return 400, {"error": f"request body is not JSON: {exc}"}
        return await self._measure(payload, client)

    async def _measure(self, payload: Any, client: str) -> tuple[int, dict[str, Any]]:
        """Run one control measurement within the concurrency cap and its queue (fair
        between clients: a freed slot goes to the waiting client running the fewest)."""
        if self._work.waiting >= 4 * self.helper.config.max_concurrent:
            return 503, {"error": "busy"}
        await self._work.acquire(client)
        try:
            return 200, await self.helper.handle(payload)
        except ControlError as exc:
            return 400, {"error": str(exc)}
        except TimeoutError:
            return 504, {"error": "control measurement took too long"}
        except Exception as exc:  # a bug of ours: say so, and keep serving others
            return 500, {"error": f"internal error: {type(exc).__name__}"}
        finally:
            self._work.release(client)


def client_key(peername: Any) -> str:
    """Whose share a connection counts against: its IPv4 address, or its IPv6 /64 (one
    subscriber's LAN, where every host can pick any address)."""
    host = peername[0] if isinstance(peername, tuple) and peername else str(peername)
    try:
        ip = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


async def _finish(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drain_timeout: float
) -> None:
    """Send what is written (within ``drain_timeout``: a client that never reads cannot hold
    us), half-close, then let the client hang up for at most LINGER seconds, discarding what
    it still sends: closing over unread bytes would send a reset, and the client's TCP stack
    may then drop the answer it has not read yet."""
    async with asyncio.timeout(drain_timeout):
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER):
            while await reader.read(1 << 14):
                pass


def _send(writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
    data = orjson.dumps(body)
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode() + data)
