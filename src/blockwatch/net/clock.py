"""Time inside one measurement: seconds since it started (OONI's ``t0``/``t``)."""

from __future__ import annotations

import time


class Clock:
    """A monotonic origin; ``now()`` is seconds since the measurement began."""

    __slots__ = ("origin",)

    def __init__(self, origin: float | None = None) -> None:
        self.origin = time.monotonic() if origin is None else origin

    def now(self) -> float:
        return round(time.monotonic() - self.origin, 6)
