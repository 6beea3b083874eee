"""Who owns a store: `blockwatch serve` leaves ``<db>.serve.json`` (pid, URL, admin token,
mode 0600) while it runs, so other commands can say where to go instead of DuckDB's lock
error, and the CLI can reach the owner's admin API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

__all__ = ["claim", "current_owner", "owner_file", "release"]


def owner_file(db: Path) -> Path:
    return db.with_name(db.name + ".serve.json")


def claim(db: Path, url: str, token: str) -> None:
    """Record this process as the owner serving ``url`` with admin ``token``."""
    path = owner_file(db)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps({"pid": os.getpid(), "url": url, "token": token}))


def release(db: Path) -> None:
    owner_file(db).unlink(missing_ok=True)


def current_owner(db: Path) -> dict[str, Any] | None:
    """The running owner's record, or None (none, or its process is gone)."""
    try:
        record: dict[str, Any] = orjson.loads(owner_file(db).read_bytes())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return record
