"""Small durable state of a running observatory: a JSON value per (namespace, key).

The collector keeps its open reports here, the alerts their subscriptions, what was alerted
and the dead letters, so a restart forgets nothing. Values are JSON objects; each write is its
own transaction on a cursor of the owner's connection (safe beside the ingest writer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from blockwatch.errors import StoreError
from blockwatch.store.store import Store

__all__ = ["State"]


class State:
    """``State(store, "alerts.sent")``: get/put/delete/items over one namespace."""

    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace

    def _run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        if self.store.read_only:
            raise StoreError(f"{self.store.path} is open read-only: cannot keep state")
        cur = self.store.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    def get(self, key: str) -> dict[str, Any] | None:
        rows = self._run(
            "SELECT value FROM state WHERE namespace = ? AND key = ?", [self.namespace, key]
        )
        return orjson.loads(rows[0][0]) if rows else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        self._run(
            "INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)",
            [self.namespace, key, orjson.dumps(value).decode(), now],
        )

    def put_new(self, key: str, value: dict[str, Any]) -> bool:
        """Store ``value`` unless ``key`` is there already; True when this call stored it."""
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = self._run(
            "INSERT OR IGNORE INTO state VALUES (?, ?, ?, ?) RETURNING key",
            [self.namespace, key, orjson.dumps(value).decode(), now],
        )
        return bool(rows)

    def delete(self, key: str) -> bool:
        rows = self._run(
            "DELETE FROM state WHERE namespace = ? AND key = ? RETURNING key",
            [self.namespace, key],
        )
        return bool(rows)

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        """Every (key, value) of the namespace, oldest write first."""
        rows = self._run(
            "SELECT key, value FROM state WHERE namespace = ? ORDER BY updated_at, key",
            [self.namespace],
        )
        return [(k, orjson.loads(v)) for k, v in rows]
