"""The dashboard's filters: a date range and a timeline bucket size, parsed and validated.

Bad values raise :class:`FilterError` (shown as a 400); values reach SQL only as bound
parameters, and bucket sizes only from the fixed :data:`BUCKETS` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from blockwatch.errors import BlockwatchError

# Bucket sizes a timeline may use, smallest first: name -> (DuckDB interval, length).
BUCKETS: dict[str, tuple[str, timedelta]] = {
    "1h": ("INTERVAL 1 HOUR", timedelta(hours=1)),
    "6h": ("INTERVAL 6 HOUR", timedelta(hours=6)),
    "1d": ("INTERVAL 1 DAY", timedelta(days=1)),
    "7d": ("INTERVAL 7 DAY", timedelta(days=7)),
}
MAX_BUCKETS = 150


class FilterError(BlockwatchError):
    """A filter value we cannot use (a bad date, an unknown bucket size)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"filter {name}: {reason}")


def _parse_time(name: str, value: str | None, *, end: bool) -> datetime | None:
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            # A date-only upper bound includes that whole day.
            when = datetime(day.year, day.month, day.day) + (timedelta(days=1) if end else
                                                             timedelta())
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FilterError(name, "expected a date YYYY-MM-DD or an ISO 8601 time") from exc
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


@dataclass(frozen=True, slots=True)
class Filters:
    """A date range [start, end) in naive UTC, either side open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> Filters:
        f = cls(_parse_time("from", start, end=False), _parse_time("to", end, end=True))
        if f.start and f.end and f.start >= f.end:
            raise FilterError("to", "must be after from")
        return f

    def sql(self, column: str = "measured_at") -> tuple[str, list[Any]]:
        parts, params = ["TRUE"], []
        if self.start is not None:
            parts.append(f"{column} >= ?")
            params.append(self.start)
        if self.end is not None:
            parts.append(f"{column} < ?")
            params.append(self.end)
        return " AND ".join(parts), params

    def events_sql(self) -> tuple[str, list[Any]]:
        """Events overlapping the range."""
        parts, params = ["TRUE"], []
        if self.end is not None:
            parts.append('"start" < ?')
            params.append(self.end)
        if self.start is not None:
            parts.append('("end" IS NULL OR "end" >= ?)')
            params.append(self.start)
        return " AND ".join(parts), params

    def query_string(self) -> str:
        parts = []
        if self.start:
            parts.append(f"from={self.start.date().isoformat()}")
        if self.end:
            parts.append(f"to={(self.end - timedelta(seconds=1)).date().isoformat()}")
        return "&".join(parts)


def choose_bucket(start: datetime, end: datetime, requested: str | None = None) -> str:
    """The smallest bucket keeping the chart under MAX_BUCKETS bars, unless one is asked."""
    if requested:
        if requested not in BUCKETS:
            raise FilterError("bucket", f"one of {', '.join(BUCKETS)}")
        return requested
    span = max(end - start, timedelta(hours=1))
    for name, (_, length) in BUCKETS.items():
        if span / length <= MAX_BUCKETS:
            return name
    return "7d"
