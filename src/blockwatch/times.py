"""Every spelling of a time blockwatch reads or writes, in one place.

Inside blockwatch a time is an aware UTC ``datetime``. At the edges it is spelled:

- ISO 8601 with a ``Z`` (``iso_z`` / ``parse_iso``): every export, the lab's files, the API;
- OONI's ``"YYYY-MM-DD HH:MM:SS"`` in UTC (``ooni_time``), what measurements carry;
- naive UTC (``naive_utc`` / ``aware_utc``), what DuckDB's TIMESTAMP columns hold;
- a bound a person typed (``parse_bound``): a date ``YYYY-MM-DD`` (its midnight, UTC) or an
  ISO 8601 time (UTC unless it says otherwise), for ``--since/--until`` and the API's filters.

Arithmetic on a time read from a store or typed by a person goes through ``shift``: such a
time may sit at the end of the calendar (9999-12-31), where ``+`` raises OverflowError.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

__all__ = [
    "ONE_DAY",
    "aware_utc",
    "day_text",
    "iso_z",
    "minute_text",
    "naive_utc",
    "ooni_time",
    "parse_bound",
    "parse_iso",
    "shift",
]

ONE_DAY: Final = timedelta(days=1)


def naive_utc(value: datetime) -> datetime:
    """The naive UTC time of ``value`` (a naive value is taken to be UTC already)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def aware_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time (a naive value is taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def iso_z(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, the one time format of every export (None stays None)."""
    if value is None:
        return None
    plain = naive_utc(value)
    return plain.isoformat(timespec="seconds" if not plain.microsecond else "microseconds") + "Z"


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; none means UTC) as an aware UTC time."""
    return aware_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def ooni_time(moment: datetime) -> str:
    """OONI's timestamp spelling: UTC, ``YYYY-MM-DD HH:MM:SS``."""
    return aware_utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def parse_bound(text: str) -> datetime:
    """A time bound a person typed: ``YYYY-MM-DD`` (that day's midnight UTC) or an ISO 8601
    time. Raises ValueError naming the accepted forms."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        return parse_iso(value)
    except ValueError as exc:
        raise ValueError(f"{text[:40]!r} is not a date YYYY-MM-DD or an ISO 8601 time") from exc
    except OverflowError as exc:  # an offset that moves it past year 1 or 9999 in UTC
        raise ValueError(f"{text[:40]!r} is outside the years 1 to 9999 in UTC") from exc


def shift(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, held at the first or last moment a datetime can spell (years 1 to
    9999) instead of raising OverflowError. Keeps ``value``'s awareness."""
    try:
        return value + delta
    except OverflowError:
        end = datetime.max if delta > timedelta(0) else datetime.min
        return end.replace(tzinfo=value.tzinfo)


def day_text(t: datetime) -> str:
    """``t``'s date as strftime("%Y-%m-%d") spells it, at a hundredth of the cost (glibc's
    strftime reads the time zone file on every call; a page of charts made hundreds)."""
    return t.date().isoformat() if t.year >= 1000 else t.strftime("%Y-%m-%d")


def minute_text(t: datetime) -> str:
    """``t`` as strftime("%Y-%m-%d %H:%M") spells it (see day_text)."""
    return f"{day_text(t)} {t.hour:02d}:{t.minute:02d}"
