"""Timestamps of both dialects: epoch milliseconds, numeric strings, ISO 8601."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

# Points must fall between 1970 and 2500: anything else is a unit mistake (seconds, µs).
MIN_MS = 0
MAX_MS = 16_725_225_600_000


class BadTimestamp(ValueError):
    pass


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_timestamp(value: object, *, require_zone: bool = False) -> int:
    """Milliseconds since the epoch from a number, a numeric string or ISO 8601.

    ISO strings without a zone are refused when `require_zone` (property dialect) and read as
    UTC otherwise (channel dialect).
    """
    if type(value) is int and MIN_MS <= value <= MAX_MS:  # the common case, first
        return value
    if isinstance(value, bool):
        raise BadTimestamp("a timestamp cannot be a boolean")
    if isinstance(value, int | float):
        try:
            ms = int(value)
        except (OverflowError, ValueError):  # infinity, NaN
            raise BadTimestamp(f"timestamp {value!r} is out of range (ms since 1970, before 2500)")
    elif isinstance(value, str):
        text = value.strip()
        try:
            ms = (
                int(float(text))
                if text.lstrip("-").replace(".", "", 1).isdigit()
                else _iso_ms(text, require_zone)
            )
        except (OverflowError, ValueError) as exc:
            raise BadTimestamp(str(exc) or f"unparsable timestamp {value!r}")
    else:
        raise BadTimestamp(f"unparsable timestamp {value!r}")
    if not MIN_MS <= ms <= MAX_MS:
        raise BadTimestamp(f"timestamp {value!r} is out of range (ms since 1970, before 2500)")
    return ms


def _iso_ms(text: str, require_zone: bool) -> int:
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadTimestamp(f"unparsable timestamp {text!r}")
    if moment.tzinfo is None:
        if require_zone:
            raise BadTimestamp(f"timestamp {text!r} has no time zone")
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso(ms: int) -> str:
    """ISO 8601 in UTC with milliseconds, as the property dialect answers."""
    # The date from a cache, the time by arithmetic: a year of hourly values is 8,760 of these
    # in one answer, and strftime was most of their cost.
    day, rest = divmod(ms, 86_400_000)
    if not rest % 60_000:  # an aggregate's bucket: whole minutes, 1,440 of them in a day
        return _iso_date(day) + _iso_minute(rest // 60_000)
    seconds, milli = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_iso_date(day)}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


@lru_cache(maxsize=4096)
def _iso_date(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


@lru_cache(maxsize=1440)
def _iso_minute(minute: int) -> str:
    return f"T{minute // 60:02d}:{minute % 60:02d}:00.000Z"
