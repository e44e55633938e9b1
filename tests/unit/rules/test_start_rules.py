"""Worked examples for the start-phase case rules and their extensions."""

from __future__ import annotations

import pytest

from rules import Status
from rules.deadline import ended_after_due
from tests.unit.rules.builders import case, d, meeting, one, rule, run


@pytest.mark.parametrize(
    ("decision", "contact", "today", "due", "status"),
    [
        ("2025-03-03", "2025-03-04", "2025-03-10", "2025-03-04", Status.MET),
        ("2025-03-03", "2025-03-05", "2025-03-10", "2025-03-04", Status.MET_LATE),
        ("2025-03-07", None, "2025-03-07", "2025-03-10", Status.DUE_SOON),  # Fri -> Mon
        ("2025-03-07", None, "2025-03-11", "2025-03-10", Status.BREACHED),
        ("2025-04-17", None, "2025-04-17", "2025-04-22", Status.DUE_SOON),  # Easter
        ("2025-12-23", None, "2025-12-23", "2025-12-29", Status.DUE_SOON),  # Christmas
        ("2025-06-19", None, "2025-06-19", "2025-06-23", Status.DUE_SOON),  # Midsummer
    ],
)
def test_contact_next_working_day(
    decision: str, contact: str | None, today: str, due: str, status: Status
) -> None:
    """CONTACT-NEXT-WD: due the next working day after the decision arrives."""
    deadline = one(
        today, "CONTACT-NEXT-WD", decision_received_on=decision, first_contact_on=contact
    )
    assert (deadline.due_on, deadline.status) == (d(due), status)
    assert deadline.explanation[0] == f"trigger: decision_received_on {decision}"
    assert "rule pack kela-tk-tv-2025" in deadline.explanation


@pytest.mark.parametrize(
    ("contact", "first_meeting", "today", "due", "status"),
    [
        ("2025-03-04", "2025-03-11", "2025-03-20", "2025-03-11", Status.MET),  # on the due date
        ("2025-03-04", "2025-03-12", "2025-03-20", "2025-03-11", Status.MET_LATE),
        ("2025-03-04", None, "2025-03-03", "2025-03-11", Status.OPEN),
        ("2025-03-04", None, "2025-03-04", "2025-03-11", Status.DUE_SOON),  # 7 days left
        ("2025-04-11", None, "2025-04-15", "2025-04-22", Status.DUE_SOON),  # Good Friday roll
        (None, None, "2025-03-04", None, Status.WAITING),
    ],
)
def test_first_meeting_one_week(
    contact: str | None, first_meeting: str | None, today: str, due: str | None, status: Status
) -> None:
    """FIRST-MEETING-1W: first contact + 7 days, rolled; waiting without a contact."""
    deadline = one(
        today,
        "FIRST-MEETING-1W",
        decision_received_on="2025-03-03",
        first_contact_on=contact,
        first_meeting_on=first_meeting,
    )
    assert deadline.status == status
    assert deadline.due_on == (d(due) if due else None)


def test_start_2w_with_interpreter_days_inside_window() -> None:
    """START-2W: + days of interpreter_unavailable inside the window only."""
    pauses = [
        {"kind": "interpreter_unavailable", "start_on": "2025-03-10", "end_on": "2025-03-12"},
        {"kind": "interpreter_unavailable", "start_on": "2025-03-16", "end_on": "2025-03-20"},
        {"kind": "interpreter_unavailable", "start_on": "2025-04-20", "end_on": "2025-04-22"},
    ]
    deadline = one("2025-03-05", "START-2W", pauses=pauses)
    # base 2025-03-17; +3 and +2 (16th, 17th) = 2025-03-22 (Sat) -> Mon 24th
    assert deadline.due_on == d("2025-03-24")
    assert deadline.status == Status.OPEN
    assert any("+3 d" in line for line in deadline.explanation)
    assert any("Saturday" in line for line in deadline.explanation)


def test_start_2w_met_on_due_date_and_late() -> None:
    """An event on the due date is on time; the day after is met_late."""
    on_time = one(
        "2025-04-01", "START-2W", first_contact_on="2025-03-04", first_meeting_on="2025-03-17"
    )
    late = one(
        "2025-04-01", "START-2W", first_contact_on="2025-03-04", first_meeting_on="2025-03-18"
    )
    assert (on_time.status, late.status) == (Status.MET, Status.MET_LATE)


def test_ended_case_keeps_a_breach_before_the_end() -> None:
    """Decision 1: due before ended_on stays breached; due on/after ended_on stops."""
    deadline = one(
        "2025-04-01",
        "START-2W",
        first_contact_on="2025-03-04",
        ended_on="2025-03-25",
        end_reason="interrupted",
    )
    assert (deadline.status, deadline.due_on) == (Status.BREACHED, d("2025-03-17"))
    assert "the case ended on 2025-03-25, after the due date" in deadline.explanation
    assert ended_after_due(deadline)
    early = one("2025-04-01", "START-2W", ended_on="2025-03-05", end_reason="interrupted")
    assert early.status == Status.NOT_APPLICABLE
    assert not ended_after_due(early)
    on_due = one("2025-04-01", "START-2W", ended_on="2025-03-17", end_reason="interrupted")
    assert on_due.status == Status.NOT_APPLICABLE


def test_decision_1_worked_example_job_coaching_interrupted() -> None:
    """Decision 1: TV first meeting 2026-09-14, interrupted 2026-11-02: WORKPLACE-1M breached."""
    deadlines = run(
        "2026-11-03",
        [
            case(
                service="job_coaching",
                decision_received_on="2026-09-01",
                first_contact_on="2026-09-02",
                first_meeting_on="2026-09-14",
                ended_on="2026-11-02",
                end_reason="interrupted",
            )
        ],
    )
    work = rule(deadlines, "WORKPLACE-1M")
    assert (work.status, work.due_on) == (Status.BREACHED, d("2026-10-14"))
    assert "the case ended on 2026-11-02, after the due date" in work.explanation
    assert rule(deadlines, "VOCATIONAL-PLAN").status == Status.NOT_APPLICABLE


def test_ended_case_due_later_is_still_open_until_due() -> None:
    """An end date after a future due date keeps the deadline running until then."""
    deadline = one(
        "2025-03-05",
        "START-2W",
        first_contact_on="2025-03-04",
        ended_on="2025-03-25",
        end_reason="interrupted",
    )
    assert deadline.status == Status.OPEN


BASE = {"first_contact_on": "2025-03-04", "first_meeting_on": "2025-03-10"}


def workplace(today: str = "2025-03-20", **fields: object) -> object:
    return one(today, "WORKPLACE-1M", **{**BASE, **fields})


def test_workplace_base_month() -> None:
    """WORKPLACE-1M: first meeting + 1 month (Thu 10 April)."""
    deadline = workplace()
    assert deadline.due_on == d("2025-04-10")
    assert deadline.status == Status.OPEN


def test_workplace_month_end_clipping_and_roll() -> None:
    """31 January + 1 month = 28 February 2025 (a Friday), no roll needed."""
    deadline = one(
        "2025-02-01",
        "WORKPLACE-1M",
        decision_received_on="2025-01-20",
        first_contact_on="2025-01-21",
        first_meeting_on="2025-01-31",
    )
    assert deadline.due_on == d("2025-02-28")
    monday = one(
        "2025-06-01",
        "WORKPLACE-1M",
        decision_received_on="2025-05-20",
        first_contact_on="2025-05-21",
        first_meeting_on="2025-05-31",
    )
    assert monday.due_on == d("2025-06-30")  # 31 May + 1 month, clipped; a Monday
    assert any("no roll" in line for line in monday.explanation)
    midsummer = one(
        "2025-06-01",
        "WORKPLACE-1M",
        decision_received_on="2025-05-12",
        first_contact_on="2025-05-13",
        first_meeting_on="2025-05-20",
    )
    assert midsummer.due_on == d("2025-06-23")  # 20 June Midsummer Eve -> Monday 23rd
    assert any("Midsummer Eve" in line for line in midsummer.explanation)


def illness(start: str, end: str, remote: bool | None = False) -> dict[str, object]:
    return {
        "kind": "illness",
        "start_on": start,
        "end_on": end,
        "remote_participation_possible": remote,
    }


@pytest.mark.parametrize(
    ("pauses", "due"),
    [
        ([illness("2025-03-20", "2025-03-28")], "2025-04-21"),  # +9 -> Sat 19 -> Easter -> 22nd
        ([illness("2025-03-20", "2025-03-28", remote=True)], "2025-04-10"),  # remote possible
        ([illness("2025-03-20", "2025-03-28", remote=None)], "2025-04-10"),  # unknown
        ([illness("2025-03-01", "2025-03-05")], "2025-04-10"),  # before the first meeting
        (
            [illness("2025-03-12", "2025-03-21"), illness("2025-03-24", "2025-03-31")],
            "2025-04-24",
        ),  # 10 + 8 = 18, capped at 14
    ],
)
def test_illness_extension(pauses: list[dict[str, object]], due: str) -> None:
    """ILLNESS-EXTENSION: only without remote participation, in the planning phase, cap 14."""
    deadline = workplace(pauses=pauses)
    expected = d(due)
    if due == "2025-04-21":
        expected = d("2025-04-22")
    assert deadline.due_on == expected


def test_illness_cap_explained_and_long_illness_advisory() -> None:
    """Past the cap the explanation names it and LONG-ILLNESS-CONTACT-KELA advises."""
    pauses = [illness("2025-03-12", "2025-03-21"), illness("2025-03-24", "2025-03-31")]
    deadlines = run("2025-03-20", [case(**BASE, pauses=pauses)])
    work = rule(deadlines, "WORKPLACE-1M")
    assert any("18 d capped at 14 d" in line for line in work.explanation)
    advisory = rule(deadlines, "LONG-ILLNESS-CONTACT-KELA")
    assert advisory.status == Status.ADVISORY
    assert advisory.details == (
        "illness episode 2025-03-12..2025-03-31: 20 d in the planning phase",
    )
    short = one(
        "2025-03-20",
        "LONG-ILLNESS-CONTACT-KELA",
        **BASE,
        pauses=[illness("2025-03-12", "2025-03-14")],
    )
    assert short.status == Status.NOT_APPLICABLE


def test_illness_after_workplace_start_does_not_extend() -> None:
    """Illness once the workplace phase has started is not a planning-phase illness."""
    deadline = workplace(
        workplace_phase_started_on="2025-04-01", pauses=[illness("2025-04-02", "2025-04-09")]
    )
    assert deadline.due_on == d("2025-04-10")
    assert deadline.status == Status.MET


@pytest.mark.parametrize(
    ("pause", "due", "counted"),
    [
        ({"start_on": "2025-04-10", "end_on": "2025-04-16"}, "2025-04-17", True),
        ({"start_on": "2025-04-11", "end_on": "2025-05-10"}, "2025-05-02", True),  # 30 -> 21
        ({"start_on": "2025-04-01", "end_on": "2025-04-16"}, "2025-04-10", False),
    ],
)
def test_sequencing_extension(pause: dict[str, str], due: str, counted: bool) -> None:
    """Sequencing awaiting employer replies at/after the base due adds days, cap 21."""
    seq = {"kind": "sequencing", "reason": "awaiting_employer_replies", **pause}
    other = {"kind": "sequencing", "reason": "employer_break", **pause}
    deadline = workplace(pauses=[seq, other])
    assert deadline.due_on == d(due)
    assert any("not counted" in line for line in deadline.explanation) is not counted


@pytest.mark.parametrize(
    ("confirmed", "due"),
    [
        ("2025-04-08", "2025-04-22"),
        ("2025-04-10", "2025-04-22"),
        ("2025-04-11", "2025-04-10"),
        (None, "2025-04-10"),
    ],
)
def test_employer_delayed_start(confirmed: str | None, due: str) -> None:
    """employer_delayed_start counts only when confirmed by the due date."""
    pause = {
        "kind": "employer_delayed_start",
        "start_on": "2025-04-10",
        "end_on": "2025-04-17",
        "start_confirmed_on": confirmed,
    }
    deadline = workplace(pauses=[pause])
    # 8 days: 10 April + 8 = 18 April (Good Friday) -> Tuesday 22 April
    assert deadline.due_on == d(due)


def test_extensions_add_up_and_roll_once() -> None:
    """Illness + sequencing + interpreter add up; the roll is applied once, last."""
    pauses = [
        illness("2025-03-12", "2025-03-14"),  # +3
        {
            "kind": "sequencing",
            "reason": "awaiting_employer_replies",
            "start_on": "2025-04-13",
            "end_on": "2025-04-14",
        },  # +2
        {"kind": "interpreter_unavailable", "start_on": "2025-04-09", "end_on": "2025-04-12"},
    ]  # interpreter: 9th-10th inside the window = +2
    deadline = workplace(pauses=pauses)
    # 10 April + 7 = 17 April (Thu)
    assert deadline.due_on == d("2025-04-17")
    assert sum(line.startswith("roll:") for line in deadline.explanation) == 1


def test_workplace_waiting_and_ended() -> None:
    """Waiting before the first meeting; an ended case stops it."""
    assert one("2025-03-05", "WORKPLACE-1M").status == Status.WAITING
    ended = workplace(today="2025-05-01", ended_on="2025-04-25", end_reason="interrupted")
    assert ended.status == Status.BREACHED
    stopped = workplace(today="2025-05-01", ended_on="2025-04-10", end_reason="interrupted")
    assert stopped.status == Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, Status.WAITING),
        ({"workplace_phase_started_on": "2025-04-01"}, Status.BREACHED),
        (
            {"workplace_phase_started_on": "2025-04-01", "vocational_plan_on": "2025-04-01"},
            Status.MET,
        ),
        (
            {"workplace_phase_started_on": "2025-04-01", "vocational_plan_on": "2025-04-03"},
            Status.MET_LATE,
        ),
        ({"ended_on": "2025-03-20", "end_reason": "interrupted"}, Status.NOT_APPLICABLE),
        (
            {
                "workplace_phase_started_on": "2025-03-25",
                "ended_on": "2025-03-28",
                "end_reason": "interrupted",
            },
            Status.BREACHED,
        ),
        (
            {
                "workplace_phase_started_on": "2025-03-25",
                "ended_on": "2025-03-25",
                "end_reason": "interrupted",
            },
            Status.NOT_APPLICABLE,
        ),
        (
            {
                "ended_on": "2025-03-20",
                "end_reason": "interrupted",
                "vocational_plan_on": "2025-03-18",
            },
            Status.MET,
        ),
    ],
)
def test_vocational_plan(fields: dict[str, str], status: Status) -> None:
    """VOCATIONAL-PLAN: due when the workplace phase starts (provisional timing)."""
    deadline = one("2025-04-02", "VOCATIONAL-PLAN", **BASE, **fields)
    assert deadline.status == status
    assert deadline.provisional == ("VOCATIONAL-PLAN.days_after_workplace_start",)


def test_case_context_fields_filled() -> None:
    """Case deadlines carry office, coach, link, language and pack id."""
    deadline = one(
        "2025-03-05",
        "START-2W",
        language="sv",
        meetings=[meeting("2025-03-10")],
        first_meeting_on="2025-03-10",
    )
    assert (deadline.office_id, deadline.coach_id, deadline.language) == ("HEL-1", "c-1", "sv")
    assert deadline.link == "https://crm.example.fi/cases/TK-1"
    assert deadline.pack_id == "kela-tk-tv-2025"
    assert deadline.days_left == (deadline.due_on - d("2025-03-05")).days


LATE = {
    "decision_received_on": "2026-02-16",
    "first_contact_on": "2026-02-17",
    "first_meeting_on": "2026-02-27",
}


def seq(start: str, end: str, reason: str = "awaiting_employer_replies") -> dict[str, object]:
    return {"kind": "sequencing", "reason": reason, "start_on": start, "end_on": end}


def test_decision_2_worked_example_late_sequencing_not_counted() -> None:
    """Decision 2: sequencing beginning 11 days after the due date 2026-03-27 never revives it."""
    deadline = one("2026-05-04", "WORKPLACE-1M", **LATE, pauses=[seq("2026-04-07", "2026-04-27")])
    assert (deadline.due_on, deadline.status) == (d("2026-03-27"), Status.BREACHED)
    assert (
        "sequencing 2026-04-07..04-27 began after the due date 2026-03-27: not counted"
        in deadline.explanation
    )


@pytest.mark.parametrize(
    ("pauses", "due", "note"),
    [
        ([seq("2026-03-30", "2026-04-03")], "2026-04-01", None),  # Monday after Fri due: counted
        (
            [seq("2026-03-31", "2026-04-03")],
            "2026-03-27",
            "sequencing 2026-03-31..04-03 began after the due date 2026-03-27: not counted",
        ),
        (
            [illness("2026-03-28", "2026-04-03")],
            "2026-03-27",
            "illness 2026-03-28..04-03 began after the due date 2026-03-27: not counted",
        ),
        (
            [illness("2026-03-20", "2026-03-29"), seq("2026-04-07", "2026-04-08")],
            "2026-04-08",
            None,
        ),  # +10 -> Easter Monday 2026-04-06 rolls to 04-07, so sequencing from 04-07 counts
        (
            [illness("2026-03-20", "2026-03-29"), illness("2026-04-08", "2026-04-09")],
            "2026-04-07",
            "illness 2026-04-08..04-09 began after the due date 2026-04-07: not counted",
        ),
        (
            [
                {
                    "kind": "interpreter_unavailable",
                    "start_on": "2026-04-01",
                    "end_on": "2026-04-02",
                }
            ],
            "2026-03-27",
            (
                "interpreter_unavailable 2026-04-01..04-02 began after the due date 2026-03-27: "
                "not counted"
            ),
        ),
        (
            [
                {
                    "kind": "employer_delayed_start",
                    "start_on": "2026-04-14",
                    "end_on": "2026-04-17",
                    "start_confirmed_on": "2026-03-27",
                }
            ],
            "2026-03-31",
            None,
        ),  # confirmed by the due date; the waiting itself begins later
    ],
)
def test_pauses_in_the_order_they_begin(
    pauses: list[dict[str, object]], due: str, note: str | None
) -> None:
    """Decision 2: each pause counts only when it begins by the due date reached so far."""
    deadline = one("2026-03-02", "WORKPLACE-1M", **LATE, pauses=pauses)
    assert deadline.due_on == d(due)
    notes = [line for line in deadline.explanation if "began after the due date" in line]
    assert notes == ([note] if note else [])


def test_sequencing_cap_shared_across_pauses() -> None:
    """Two sequencing pauses share the 21-day cap; the second is capped at what is left."""
    pauses = [seq("2026-03-27", "2026-04-10"), seq("2026-04-11", "2026-04-30")]
    deadline = one("2026-03-02", "WORKPLACE-1M", **LATE, pauses=pauses)
    assert deadline.due_on == d("2026-04-17")
    assert any("35 d capped at 21 d" in line for line in deadline.explanation)


@pytest.mark.parametrize(
    ("pauses", "workplace_on", "details"),
    [
        (
            [illness("2025-03-12", "2025-03-20"), illness("2025-03-24", "2025-03-31")],
            None,
            (),
        ),  # Friday 21 March is a working day: two short illnesses, no advisory
        (
            [illness("2025-03-12", "2025-03-20"), illness("2025-03-15", "2025-03-28")],
            None,
            ("illness episode 2025-03-12..2025-03-28: 17 d in the planning phase",),
        ),  # overlapping
        (
            [illness("2025-03-12", "2025-03-20"), illness("2025-03-21", "2025-03-27")],
            None,
            ("illness episode 2025-03-12..2025-03-27: 16 d in the planning phase",),
        ),  # touching
        (
            [illness("2025-04-07", "2025-04-25")],
            "2025-04-01",
            ("illness episode 2025-04-07..2025-04-25: 19 d in the workplace phase",),
        ),
        (
            [illness("2025-04-07", "2025-04-25", remote=True)],
            "2025-04-01",
            (),
        ),  # remote participation was possible
    ],
)
def test_illness_episodes(
    pauses: list[dict[str, object]], workplace_on: str | None, details: tuple[str, ...]
) -> None:
    """Decision 4: one episode across overlaps, touches and non-working days, both phases."""
    deadline = one(
        "2025-05-02",
        "LONG-ILLNESS-CONTACT-KELA",
        **BASE,
        workplace_phase_started_on=workplace_on,
        pauses=pauses,
    )
    assert deadline.details == details
    assert deadline.status == (Status.ADVISORY if details else Status.NOT_APPLICABLE)


def test_decision_4_worked_example_christmas_episode() -> None:
    """Decision 4: illness 14-23 Dec and 28 Dec-8 Jan joined over Christmas: one 26-day episode."""
    deadlines = run(
        "2027-01-11",
        [
            case(
                service="job_coaching",
                decision_received_on="2026-10-26",
                first_contact_on="2026-10-27",
                first_meeting_on="2026-11-02",
                workplace_phase_started_on="2026-12-01",
                pauses=[illness("2026-12-14", "2026-12-23"), illness("2026-12-28", "2027-01-08")],
            )
        ],
    )
    advisory = rule(deadlines, "LONG-ILLNESS-CONTACT-KELA")
    assert advisory.status == Status.ADVISORY
    assert advisory.details == (
        "illness episode 2026-12-14..2027-01-08: 26 d in the workplace phase",
    )
    assert "contact Kela" in advisory.explanation[0]


def test_separate_short_illnesses_share_the_cap() -> None:
    """Decision 4: two short illnesses (9 + 8 d) extend WORKPLACE-1M by the 14-day cap only."""
    pauses = [illness("2025-03-12", "2025-03-20"), illness("2025-03-24", "2025-03-31")]
    deadline = workplace(pauses=pauses)
    assert deadline.due_on == d("2025-04-24")
    assert any("17 d capped at 14 d" in line for line in deadline.explanation)


def test_a_late_pause_across_the_new_year_is_named_in_full() -> None:
    """The not-counted note keeps the end's year when the pause crosses into the next one."""
    deadline = one(
        "2026-12-01",
        "WORKPLACE-1M",
        decision_received_on="2026-11-02",
        first_contact_on="2026-11-03",
        first_meeting_on="2026-11-10",
        pauses=[illness("2026-12-21", "2027-01-04")],
    )
    assert deadline.due_on == d("2026-12-10")
    assert (
        "illness 2026-12-21..2027-01-04 began after the due date 2026-12-10: not counted"
        in deadline.explanation
    )
