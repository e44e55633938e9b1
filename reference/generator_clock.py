"""Helsinki wall-clock timestamps without a time-zone database lookup per item.

Finland follows EU summer time: UTC+3 from the last Sunday of March 01:00 UTC to the
last Sunday of October 01:00 UTC, UTC+2 otherwise. Timestamps are rendered as RFC 3339
with that offset (``2025-04-14T15:02:11+03:00``), as the Provider Case API asks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ZONES = {2: timezone(timedelta(hours=2)), 3: timezone(timedelta(hours=3))}


def _last_sunday_epoch(year: int, month: int) -> int:
    last = date(year, month + 1, 1).toordinal() - 1
    sunday = last - ((last + 6) % 7 - 6) % 7  # weekday(): Monday 0 ... Sunday 6
    return (sunday - _EPOCH_ORDINAL) * 86400 + 3600


@cache
def _summer(year: int) -> tuple[int, int]:
    return _last_sunday_epoch(year, 3), _last_sunday_epoch(year, 10)


def offset_hours(epoch: int) -> int:
    """Helsinki's UTC offset in hours at the instant ``epoch`` (seconds)."""
    start, end = _summer(datetime.fromtimestamp(epoch, UTC).year)
    return 3 if start <= epoch < end else 2


def local_epoch(ordinal: int, seconds_of_day: int) -> int:
    """The instant of a Helsinki wall-clock time (date ordinal + seconds after midnight)."""
    guess = (ordinal - _EPOCH_ORDINAL) * 86400 + seconds_of_day - 2 * 3600
    return guess - 3600 * (offset_hours(guess) - 2)


def format_timestamp(epoch: int) -> str:
    """RFC 3339 with Helsinki's offset, to the second."""
    hours = offset_hours(epoch)
    return datetime.fromtimestamp(epoch, _ZONES[hours]).isoformat()
