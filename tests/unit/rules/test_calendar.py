"""Finnish working days and the LAW-150/1930 arithmetic, as date -> expected tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules.calendar import FinnishCalendar, Rolled, add_days, add_months
from tests.unit.rules.builders import d

CAL = FinnishCalendar()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2025-01-31", 1, "2025-02-28"),  # clipped to the month's last day
        ("2024-01-31", 1, "2024-02-29"),  # leap year
        ("2025-03-31", 1, "2025-04-30"),
        ("2025-01-15", 1, "2025-02-15"),
        ("2025-10-31", 5, "2026-03-31"),
        ("2025-09-30", 5, "2026-02-28"),
        ("2025-12-10", 13, "2027-01-10"),
        ("2025-11-30", 3, "2026-02-28"),
    ],
)
def test_add_months_clips_to_month_end(start: str, months: int, expected: str) -> None:
    """N months = the same day number N months later, clipped to the month's end."""
    assert add_months(d(start), months) == d(expected)
    assert CAL.add_months(d(start), months) == d(expected)


def test_add_days_does_not_count_the_trigger_day() -> None:
    """14 days from Monday 3 March is Monday 17 March."""
    assert add_days(d("2025-03-03"), 14) == d("2025-03-17")
    assert CAL.add_days(d("2025-03-03"), 7) == d("2025-03-10")


@pytest.mark.parametrize(
    ("on", "expected", "reasons"),
    [
        ("2025-03-17", "2025-03-17", []),  # a working Monday
        ("2025-03-15", "2025-03-17", ["Saturday", "Sunday"]),
        ("2025-04-18", "2025-04-22", ["Good Friday", "Saturday", "Easter Sunday", "Easter Monday"]),
        ("2025-06-20", "2025-06-23", ["Midsummer Eve", "Midsummer Day", "Sunday"]),
        (
            "2025-12-24",
            "2025-12-29",
            ["Christmas Eve", "Christmas Day", "Second Day of Christmas", "Saturday", "Sunday"],
        ),
        ("2026-01-01", "2026-01-02", ["New Year's Day"]),
        ("2025-05-29", "2025-05-30", ["Ascension Day"]),
        ("2025-12-06", "2025-12-08", ["Independence Day", "Sunday"]),
    ],
)
def test_roll_to_next_working_day(on: str, expected: str, reasons: list[str]) -> None:
    """A due date on a weekend or holiday rolls forward and names what it skipped."""
    rolled = CAL.roll(d(on))
    assert rolled.on == d(expected)
    assert [s.reason for s in rolled.skipped] == reasons
    assert CAL.roll(d(on)) is rolled  # cached


def test_roll_describe() -> None:
    """The roll explains itself with dates and reasons."""
    assert CAL.roll(d("2025-03-17")).describe() == "2025-03-17 is a working day, no roll"
    text = CAL.roll(d("2025-06-20")).describe()
    assert text == (
        "rolled over 2025-06-20 Midsummer Eve, 2025-06-21 Midsummer Day, 2025-06-22 Sunday "
        "-> 2025-06-23"
    )
    assert Rolled(d("2025-01-02")).skipped == ()


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2030])
def test_christmas_eve_and_midsummer_eve_are_not_working_days(year: int) -> None:
    """Both eves are non-working every year, whatever the holidays package says."""
    names = CAL.holidays_in(year)
    assert names[d(f"{year}-12-24")] == "Christmas Eve"
    eve = next(on for on, name in names.items() if name == "Midsummer Eve")
    assert eve.weekday() == 4
    assert 19 <= eve.day <= 25
    assert eve.month == 6
    assert not CAL.is_working_day(eve)


def test_working_day_and_next_working_day() -> None:
    """Weekdays work, weekends and holidays do not; next is strictly after."""
    assert CAL.is_working_day(d("2025-03-03"))
    assert not CAL.is_working_day(d("2025-03-08"))
    assert not CAL.is_working_day(d("2025-01-06"))  # Epiphany
    assert CAL.next_working_day(d("2025-03-03")) == d("2025-03-04")
    assert CAL.next_working_day(d("2025-03-07")) == d("2025-03-10")
    assert CAL.next_working_day(d("2025-12-23")) == d("2025-12-29")
    assert CAL.holiday_name(d("2025-03-03")) is None
    assert CAL.non_working_reason(d("2025-03-08")) == "Saturday"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-03-03", "2025-03-07", 5),
        ("2025-03-07", "2025-03-03", 0),
        ("2025-03-08", "2025-03-09", 0),
        ("2024-12-30", "2025-01-02", 3),  # across the year, New Year's Day off
        ("2025-01-01", "2025-12-31", 251),  # 261 weekdays - 10 weekday holidays
        ("2024-01-01", "2025-12-31", 503),
    ],
)
def test_working_days_between(start: str, end: str, expected: int) -> None:
    """Inclusive working-day counts, across year boundaries too."""
    assert CAL.working_days_between(d(start), d(end)) == expected
    brute = sum(
        CAL.is_working_day(d(start) + timedelta(days=i))
        for i in range((d(end) - d(start)).days + 1)
    )
    assert brute == expected
