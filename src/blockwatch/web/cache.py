"""Answers kept in memory: a page or API answer is built once per store state, however many
readers ask for it at once.

The dashboard opens its store read-only, and DuckDB lets no process write a file while
another reads it, so a page's answer stays right until the store changes. The cache is keyed
by path and query; every request first compares the store file's (and its WAL's) size and
modification time with those the cached answers were built on, and drops them all if the
store changed. Only whole 200 answers of the cacheable routes (pages and JSON, not reports
or CSV, which have their own lane: ``heavy.py``) are kept, least recently used first out, up
to ``max_bytes``. Readers asking for an answer that is being built wait for it rather than
building it again, so a burst on a cold page costs one build; at most ``builders`` answers
(pages and JSON, kept or not) are built at once, the rest wait their turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from blockwatch.store.kept import KeptByState, State

__all__ = [
    "ANSWER_HEADER",
    "DEFAULT_MAX_BYTES",
    "ASGIApp",
    "Message",
    "Receive",
    "ResponseCache",
    "Scope",
    "Send",
    "cacheable",
]

DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
MAX_ANSWER_BYTES: Final = 4 * 1024 * 1024
ANSWER_HEADER: Final = b"x-blockwatch-answer"
# Answers built at once. Building is Python work (templates, rows to dicts) that holds the
# interpreter lock, between DuckDB's queries, which do not: with too few builders a core
# idles while they wait for the lock; with too many the event loop, which answers kept pages,
# waits for it behind them. Since the rows of queries are kept (store/kept.py), a build is
# mostly short Python between queries, and more of them at once keep both cores busy: under
# bench/web_latency.py's load at 1M verdicts, the median of four runs' worse p95 was 388 ms
# with 3 builders, 326 with 6, 292 with 10, 286 with 12, 269 with 16 and 284 with 24.
DEFAULT_BUILDERS: Final = 16

# The ASGI interface (the types Starlette names; spelled here as it is not our dependency).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def cacheable(path: str) -> bool:
    """Pages and JSON: not reports or CSV (heavy, and downloads), not the static files."""
    last = path.rsplit("/", 1)[-1]
    return not (path.startswith("/static/") or last.startswith("report.") or last.endswith(".csv"))


@dataclass(frozen=True, slots=True)
class _Answer:
    start: Message
    body: bytes


def _marked(start: Message, how: bytes) -> Message:
    """The answer's start with a header saying whether it was kept or built for this request
    (what a load test needs to tell first visits from the rest)."""
    return {**start, "headers": [*start.get("headers", []), (ANSWER_HEADER, how)]}


class ResponseCache:
    """ASGI middleware keeping whole 200 answers of GET requests to cacheable routes."""

    def __init__(
        self,
        app: ASGIApp,
        db_path: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        builders: int = DEFAULT_BUILDERS,
    ) -> None:
        self.app = app
        self._builders = asyncio.Semaphore(builders)
        self.db_path = Path(db_path)
        self.max_bytes = max_bytes
        self._answers = KeptByState[_Answer](self.db_path, max_bytes, max_value_bytes=max_bytes)
        self._building: dict[tuple[str, bytes], asyncio.Future[_Answer | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.max_bytes <= 0
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or not cacheable(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        state, answer = self._answers.lookup(key)
        if answer is None and key in self._building:
            answer = await asyncio.shield(self._building[key])
        if answer is not None:
            await send(_marked(answer.start, b"kept"))
            await send({"type": "http.response.body", "body": answer.body, "more_body": False})
            return
        await self._build(key, state, scope, receive, send)

    async def _build(
        self, key: tuple[str, bytes], state: State, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the app for this request, passing its answer on and keeping it if whole."""
        done: asyncio.Future[_Answer | None] = asyncio.get_running_loop().create_future()
        self._building[key] = done
        start: Message | None = None
        parts: list[bytes] = []
        keep = True

        async def capture(message: Message) -> None:
            nonlocal start, keep
            if message["type"] == "http.response.start":
                start = message
                keep = message["status"] == 200
                message = _marked(message, b"built")
            elif message["type"] == "http.response.body" and keep:
                parts.append(message.get("body", b""))
                keep = sum(map(len, parts)) <= MAX_ANSWER_BYTES
            await send(message)

        answer: _Answer | None = None
        try:
            async with self._builders:
                await self.app(scope, receive, capture)
            if keep and start is not None:
                answer = _Answer(start, b"".join(parts))
                # Kept unless the store changed while it was built.
                self._answers.keep(key, answer, len(answer.body) + 512, state)
        finally:
            del self._building[key]
            done.set_result(answer)
