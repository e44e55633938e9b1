"""Finnish working days and the LAW-150/1930 date arithmetic of rules.md.

- A working day is Monday-Friday that is not a Finnish public holiday (the ``holidays``
  package's Finland calendar), Christmas Eve or Midsummer Eve.
- "N days" = trigger + N (the trigger day is not counted); "N months" = the same day
  number N months later, clipped to that month's last day (31 Jan + 1 month = 28/29 Feb).
- ``roll`` moves a date off a non-working day to the next working day and says which
  days it skipped and why.

A year's holidays are computed once per process (the ``holidays`` package is slow at it);
rolls and working-day counts once per calendar instance. Every lookup is a
dict or set probe afterwards.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import holidays

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A non-working day passed over by a roll, with the reason."""

    on: date
    reason: str  # a weekday name ("Saturday") or a holiday name ("Midsummer Eve")


@dataclass(frozen=True, slots=True)
class Rolled:
    """The result of rolling a date to a working day."""

    on: date
    skipped: tuple[Skipped, ...] = ()

    def describe(self) -> str:
        """``2025-04-18 Good Friday, ... skipped -> 2025-04-22`` or ``working day``."""
        if not self.skipped:
            return f"{self.on.isoformat()} is a working day, no roll"
        days = ", ".join(f"{s.on.isoformat()} {s.reason}" for s in self.skipped)
        return f"rolled over {days} -> {self.on.isoformat()}"


def _midsummer_eve(year: int) -> date:
    """The Friday between 19 and 25 June."""
    first = date(year, 6, 19)
    return first + timedelta(days=(4 - first.weekday()) % 7)


def add_months(start_on: date, months: int) -> date:
    """Same day number ``months`` later, clipped to the month's last day."""
    index = start_on.month - 1 + months
    year, month = start_on.year + index // 12, index % 12 + 1
    last = _stdlib_calendar.monthrange(year, month)[1]
    return date(year, month, min(start_on.day, last))


def add_days(start_on: date, days: int) -> date:
    """Trigger + ``days`` (the trigger day itself is not counted)."""
    return start_on + timedelta(days=days)


@functools.cache
def _holiday_names(year: int) -> MappingProxyType[date, str]:
    """Finland's non-working holidays of ``year`` with their English names (read-only)."""
    extra = {date(year, 12, 24): "Christmas Eve", _midsummer_eve(year): "Midsummer Eve"}
    package = holidays.country_holidays("FI", years=year, language="en_US")
    return MappingProxyType({**extra, **{d: str(n) for d, n in package.items()}})


class FinnishCalendar:
    """Finnish working days with per-year caches. Cheap to share; not thread-hostile."""

    def __init__(self) -> None:
        self._rolls: dict[date, Rolled] = {}
        self._working_prefix: dict[int, list[int]] = {}

    add_days = staticmethod(add_days)
    add_months = staticmethod(add_months)

    def holidays_in(self, year: int) -> Mapping[date, str]:
        """Non-working holidays of ``year`` with their English names."""
        return _holiday_names(year)

    def holiday_name(self, on: date) -> str | None:
        """The holiday's name, or None on an ordinary day."""
        return self.holidays_in(on.year).get(on)

    def is_working_day(self, on: date) -> bool:
        """Monday-Friday and not a holiday (incl. Christmas Eve and Midsummer Eve)."""
        return on.weekday() < 5 and on not in self.holidays_in(on.year)

    def next_working_day(self, on: date) -> date:
        """The first working day strictly after ``on``."""
        return self.roll(on + _ONE_DAY).on

    def non_working_reason(self, on: date) -> str:
        """Why ``on`` is not a working day (holiday name first, else the weekday)."""
        return self.holiday_name(on) or WEEKDAY_NAMES[on.weekday()]

    def roll(self, on: date) -> Rolled:
        """``on`` itself when a working day, else the next working day and what was skipped."""
        cached = self._rolls.get(on)
        if cached is None:
            skipped: list[Skipped] = []
            current = on
            while not self.is_working_day(current):
                skipped.append(Skipped(current, self.non_working_reason(current)))
                current += _ONE_DAY
            cached = Rolled(current, tuple(skipped))
            self._rolls[on] = cached
        return cached

    def _prefix(self, year: int) -> list[int]:
        """prefix[i] = working days in the year up to and including day-of-year i (1-based)."""
        prefix = self._working_prefix.get(year)
        if prefix is None:
            prefix = [0]
            current = date(year, 1, 1)
            while current.year == year:
                prefix.append(prefix[-1] + self.is_working_day(current))
                current += _ONE_DAY
            self._working_prefix[year] = prefix
        return prefix

    def _working_before(self, on: date, *, inclusive: bool) -> int:
        """Working days from 1 Jan of ``on``'s year up to ``on`` (included or not)."""
        return self._prefix(on.year)[on.timetuple().tm_yday - (not inclusive)]

    def working_days_between(self, start_on: date, end_on: date) -> int:
        """Working days in the inclusive range; 0 when the range is empty."""
        if end_on < start_on:
            return 0
        total = sum(self._prefix(year)[-1] for year in range(start_on.year, end_on.year))
        return (
            total
            + self._working_before(end_on, inclusive=True)
            - self._working_before(start_on, inclusive=False)
        )
