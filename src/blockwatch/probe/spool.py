"""A vantage's spool: measurements wait here, one file each, until the collector (or the
store) has acknowledged them. Files are written whole (temp file, fsync, rename), named in
the order they were made, and removed only after the acknowledgement, so a crash, a restart or
a collector outage loses nothing and resubmits in order."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from blockwatch.errors import ProbeError

__all__ = ["Spool"]


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProbeError(f"cannot use spool {folder}: {exc}") from exc
        names = sorted(p.name for p in folder.glob("*.json"))
        self._next = int(names[-1].split(".")[0]) + 1 if names else 1

    def add(self, doc: dict[str, Any]) -> Path:
        path = self.folder / f"{self._next:012d}.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(orjson.dumps(doc))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(path)
        self._next += 1
        return path

    def pending(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Waiting measurements, oldest first; an unreadable file is set aside (.bad)."""
        for path in sorted(self.folder.glob("*.json")):
            try:
                yield path, orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                path.rename(path.with_suffix(".bad"))

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json"))
