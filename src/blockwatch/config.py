"""Defaults that several stages share."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_db_path() -> Path:
    """The store used when no --db is given (BLOCKWATCH_DB overrides)."""
    env = os.environ.get("BLOCKWATCH_DB")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("blockwatch")) / "blockwatch.duckdb"


def shared_data_dir() -> Path:
    """Where the shared real-data folder is expected (BLOCKWATCH_SHARED_DATA overrides)."""
    env = os.environ.get("BLOCKWATCH_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def services_path() -> Path | None:
    """A services table replacing the shipped one (BLOCKWATCH_SERVICES), or None."""
    env = os.environ.get("BLOCKWATCH_SERVICES")
    return Path(env) if env else None


def asn_db_path(given: Path | None = None) -> Path | None:
    """The ASN database naming networks (``--asn-db``, else BLOCKWATCH_ASN_DB), or None."""
    if given is not None:
        return given
    env = os.environ.get("BLOCKWATCH_ASN_DB")
    return Path(env) if env else None
