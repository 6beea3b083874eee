"""What reads need of a cursor: DuckDB's own, or one whose queries another process runs
(store.remote)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["SqlCursor"]


class SqlCursor(Protocol):
    """What reads use of a cursor: a DuckDB cursor, or a RemoteCursor."""

    def execute(self, query: str, parameters: object = None) -> SqlCursor: ...

    @property
    def description(self) -> Sequence[tuple[Any, ...]] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...
