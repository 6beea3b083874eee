"""Per-phase time limits and size caps of the network steps (STYLE §5).

One :class:`Timeouts` object is passed down to every step; the probe and the control helper
each build theirs from their own configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

__all__ = ["BODY_CAP", "Timeouts"]

BODY_CAP: Final = 1 << 19  # OONI's 512 KiB cap on HTTP bodies


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds allowed per phase; ``total`` bounds one URL's whole measurement."""

    dns: float = 4.0
    connect: float = 10.0
    tls: float = 10.0
    http: float = 15.0
    control: float = 30.0
    total: float = 60.0

    def scaled(self, factor: float) -> Timeouts:
        return Timeouts(**{f.name: getattr(self, f.name) * factor for f in fields(self)})
