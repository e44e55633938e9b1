"""Worked examples for MEETING-PLACE, EMPLOYER-BREAK-RESUME and EMPLOYER-BREAK-LONG."""

from __future__ import annotations

from typing import Any

import pytest

from contract.validate import validate_cases
from rules import Status
from tests.unit.rules.builders import d, day, meeting, one, raw_case

PHASE = {
    "decision_received_on": "2026-04-01",
    "first_contact_on": "2026-04-02",
    "first_meeting_on": "2026-04-08",
    "workplace_phase_started_on": "2026-05-04",
}


def brk(start: str, end: str) -> dict[str, str]:
    return {"kind": "sequencing", "reason": "employer_break", "start_on": start, "end_on": end}


@pytest.mark.parametrize(
    ("meetings", "status", "details"),
    [
        ([meeting("2026-04-09", place="network_partner", kind="network")], Status.OK, ()),
        (
            [
                meeting("2026-04-09", place="network_partner", kind="network"),
                meeting("2026-04-16", place="network_partner"),
            ],
            Status.BREACHED,
            (
                (
                    "2026-04-16: regular meeting in person at a network partner "
                    "(only a network meeting may be)"
                ),
            ),
        ),
        ([meeting("2026-04-16", mode="video", place="remote")], Status.OK, ()),
        ([], Status.OK, ()),
    ],
)
def test_meeting_place(meetings: list[dict[str, Any]], status: Status, details: tuple[str]) -> None:
    """Decision 9: in person at a network partner only for a network meeting."""
    deadline = one("2026-04-20", "MEETING-PLACE", **PHASE, meetings=meetings)
    assert (deadline.status, deadline.details) == (status, details)


@pytest.mark.parametrize(
    ("mode", "place"),
    [("in_person", "remote"), ("video", "office"), ("video", "workplace")],
)
def test_impossible_meeting_mode_and_place_are_invalid(mode: str, place: str) -> None:
    """Decision 9: in person remotely, or a video meeting at a physical place, is invalid."""
    item = raw_case(**PHASE, meetings=[meeting("2026-04-09", mode=mode, place=place)])
    valid, rejected = validate_cases([item])
    assert valid == []
    assert f"meetings[0].place {place!r} is not possible with mode {mode!r}" in rejected[0].errors


@pytest.mark.parametrize(
    ("today", "days", "status", "event"),
    [
        ("2026-06-17", [], Status.DUE_SOON, None),
        ("2026-06-23", [day("2026-06-22")], Status.MET, "2026-06-22"),
        ("2026-06-24", [day("2026-06-23")], Status.MET_LATE, "2026-06-23"),
        ("2026-06-23", [day("2026-06-12")], Status.BREACHED, None),
    ],
)
def test_employer_break_resumes_the_next_working_day(
    today: str, days: list[dict[str, Any]], status: Status, event: str | None
) -> None:
    """Decision 10: a break ending Thursday before Midsummer Eve is due Monday 2026-06-22."""
    deadline = one(
        today, "EMPLOYER-BREAK-RESUME", **PHASE, pauses=[brk("2026-06-15", "2026-06-18")], days=days
    )
    assert (deadline.status, deadline.due_on) == (status, d("2026-06-22"))
    assert deadline.event_on == (d(event) if event else None)


def test_employer_break_before_the_workplace_phase_is_a_deviation() -> None:
    """Decision 10: a break beginning before workplace_phase_started_on is breached, with why."""
    deadline = one(
        "2026-05-05", "EMPLOYER-BREAK-RESUME", **PHASE, pauses=[brk("2026-04-20", "2026-04-24")]
    )
    assert deadline.status == Status.BREACHED
    assert deadline.details == (
        (
            "break 2026-04-20..2026-04-24: before the workplace phase (workplace_phase_started_on "
            "2026-05-04); an employer break is allowed only in the workplace phase"
        ),
    )
    planning = {key: value for key, value in PHASE.items() if key != "workplace_phase_started_on"}
    early = one(
        "2026-05-05", "EMPLOYER-BREAK-RESUME", **planning, pauses=[brk("2026-04-20", "2026-04-24")]
    )
    assert early.status == Status.BREACHED
    assert "(no workplace phase)" in early.details[0]


def test_employer_break_and_the_case_end() -> None:
    """An end before the resumption is due needs none; otherwise the worst break counts."""
    ended = one(
        "2026-06-25",
        "EMPLOYER-BREAK-RESUME",
        **PHASE,
        ended_on="2026-06-19",
        end_reason="interrupted",
        pauses=[brk("2026-06-15", "2026-06-18")],
    )
    assert ended.status == Status.NOT_APPLICABLE
    assert ended.details == (
        (
            "break 2026-06-15..2026-06-18: due 2026-06-22, not resumed yet: the case ended on "
            "2026-06-19, no resumption needed"
        ),
    )
    two = one(
        "2026-06-25",
        "EMPLOYER-BREAK-RESUME",
        **PHASE,
        pauses=[brk("2026-06-15", "2026-06-18"), brk("2026-05-11", "2026-05-12")],
        days=[day("2026-05-13"), day("2026-06-23")],
    )
    assert (two.status, two.due_on, two.event_on) == (
        Status.MET_LATE,
        d("2026-06-22"),
        d("2026-06-23"),
    )
    assert two.details == ("break 2026-06-15..2026-06-18: due 2026-06-22, resumed 2026-06-23",)
    mixed = one(
        "2026-06-25",
        "EMPLOYER-BREAK-RESUME",
        **PHASE,
        ended_on="2026-06-19",
        end_reason="interrupted",
        pauses=[brk("2026-06-15", "2026-06-18"), brk("2026-05-11", "2026-05-12")],
        days=[day("2026-05-13")],
    )
    assert (mixed.status, len(mixed.details)) == (Status.MET, 2)
    assert one("2026-06-25", "EMPLOYER-BREAK-RESUME", **PHASE).status == Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("end", "status", "details"),
    [
        ("2026-06-14", Status.NOT_APPLICABLE, ()),
        ("2026-06-19", Status.ADVISORY, ("break 2026-06-01..2026-06-19: 19 d",)),
    ],
)
def test_employer_break_long(end: str, status: Status, details: tuple[str, ...]) -> None:
    """Decision 10: a break longer than 14 days (provisional) raises EMPLOYER-BREAK-LONG."""
    deadline = one("2026-06-25", "EMPLOYER-BREAK-LONG", **PHASE, pauses=[brk("2026-06-01", end)])
    assert (deadline.status, deadline.details) == (status, details)
    assert deadline.provisional == ("EMPLOYER-BREAK-LONG.employer_break_max_days",)
