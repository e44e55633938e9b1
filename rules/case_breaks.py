"""Meeting places and employer breaks (rules.md decisions 9 and 10).

MEETING-PLACE: an in-person meeting at a network partner's premises is allowed only for
a network meeting; any other is a deviation (``breached``, the dates in ``details``).

EMPLOYER-BREAK-RESUME: a ``sequencing`` pause with ``reason="employer_break"`` is allowed
only in the workplace phase, and the service resumes at once: due the first working day
after the break, met by the first realized day after the break on or before it. A break
before the workplace phase is a deviation on the same rule. A break whose due date falls
on or after ``ended_on`` needs no resumption (as decision 1 reads an ended case).
EMPLOYER-BREAK-LONG: advisory when a break is longer than ``employer_break_max_days``
(PROVISIONAL: the seed says only "a short time, e.g. a week").
"""

from __future__ import annotations

from datetime import date

from contract.payloads import PausePayload
from rules.deadline import BREACH_STATUSES, Deadline, Status
from rules.explain import CaseContext, inclusive_days

BREAK_MAX = "EMPLOYER-BREAK-LONG.employer_break_max_days"
#: The order in which one case's breaks decide EMPLOYER-BREAK-RESUME's status.
_SEVERITY = (Status.BREACHED, Status.DUE_SOON, Status.OPEN, Status.MET_LATE, Status.MET)


def meeting_place(ctx: CaseContext) -> Deadline:
    """MEETING-PLACE: in person at a network partner only for a network meeting."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    offending = [
        f"{m.on}: {m.kind} meeting in person at a network partner (only a network meeting may be)"
        for m in case.meetings
        if m.mode == "in_person" and m.place == "network_partner" and m.kind != "network"
    ]
    if offending:
        return ctx.make(
            "MEETING-PLACE",
            Status.BREACHED,
            pack,
            details=offending,
            explanation=[f"{len(offending)} meeting(s) at a place not allowed for their kind"],
        )
    return ctx.make(
        "MEETING-PLACE",
        Status.OK,
        pack,
        explanation=[f"{len(case.meetings)} meeting(s), each at a place allowed for its kind"],
    )


def _breaks(ctx: CaseContext) -> list[PausePayload]:
    return sorted(
        (p for p in ctx.case.pauses if p.kind == "sequencing" and p.reason == "employer_break"),
        key=lambda pause: pause.start_on,
    )


def _resumed(ctx: CaseContext, pause: PausePayload) -> tuple[Status, date, date | None, str]:
    """One break in the workplace phase: its status, due date, resumption day and detail."""
    due_on = ctx.env.calendar.next_working_day(pause.end_on)
    resumed_on = min(
        (day.on for day in ctx.case.days if day.status == "realized" and day.on > pause.end_on),
        default=None,
    )
    status = ctx.env.timed_status(due_on, resumed_on)
    shown = f"resumed {resumed_on}" if resumed_on else "not resumed yet"
    return (
        status,
        due_on,
        resumed_on,
        f"break {pause.start_on}..{pause.end_on}: due {due_on}, {shown}",
    )


def employer_break_resume(ctx: CaseContext) -> Deadline:
    """EMPLOYER-BREAK-RESUME: an employer break only in the workplace phase, resumed at once."""
    case = ctx.case
    pack = ctx.pack_on(case.workplace_phase_started_on or case.first_meeting_on)
    breaks = _breaks(ctx)
    if not breaks:
        return ctx.make(
            "EMPLOYER-BREAK-RESUME",
            Status.NOT_APPLICABLE,
            pack,
            explanation=["no employer break"],
        )
    workplace_on, ended_on = case.workplace_phase_started_on, case.ended_on
    found: list[tuple[Status, date | None, date | None, str]] = []
    for pause in breaks:
        if workplace_on is None or pause.start_on < workplace_on:
            before = (
                f"workplace_phase_started_on {workplace_on}"
                if workplace_on
                else "no workplace phase"
            )
            found.append(
                (
                    Status.BREACHED,
                    None,
                    None,
                    (
                        f"break {pause.start_on}..{pause.end_on}: before the workplace phase "
                        f"({before}); an employer break is allowed only in the workplace phase"
                    ),
                )
            )
            continue
        status, due_on, resumed_on, detail = _resumed(ctx, pause)
        if resumed_on is None and ended_on is not None and due_on >= ended_on:
            detail += f": the case ended on {ended_on}, no resumption needed"
            status = Status.NOT_APPLICABLE
        found.append((status, due_on, resumed_on, detail))
    deciding = [entry for entry in found if entry[0] is not Status.NOT_APPLICABLE]
    details = [entry[3] for entry in found]
    if not deciding:
        return ctx.make(
            "EMPLOYER-BREAK-RESUME",
            Status.NOT_APPLICABLE,
            pack,
            details=details,
            explanation=["every employer break ended with the case"],
        )
    chosen = min(deciding, key=lambda entry: _SEVERITY.index(entry[0]))
    return ctx.make(
        "EMPLOYER-BREAK-RESUME",
        chosen[0],
        pack,
        due_on=chosen[1],
        event_on=chosen[2],
        details=[entry[3] for entry in found if entry[0] in BREACH_STATUSES] or details,
        explanation=[
            "the service resumes on the first working day after an employer break",
            f"{len(breaks)} employer break(s)",
        ],
    )


def employer_break_long(ctx: CaseContext) -> Deadline:
    """EMPLOYER-BREAK-LONG: advisory for an employer break longer than the provisional maximum."""
    case = ctx.case
    pack = ctx.pack_on(case.workplace_phase_started_on or case.first_meeting_on)
    limit = pack.days(BREAK_MAX)
    long = [
        f"break {pause.start_on}..{pause.end_on}: {days} d"
        for pause in _breaks(ctx)
        if (days := inclusive_days(pause.start_on, pause.end_on)) > limit
    ]
    if long:
        return ctx.make(
            "EMPLOYER-BREAK-LONG",
            Status.ADVISORY,
            pack,
            (BREAK_MAX,),
            details=long,
            explanation=[f"an employer break longer than {limit} d: contact Kela"],
        )
    return ctx.make(
        "EMPLOYER-BREAK-LONG",
        Status.NOT_APPLICABLE,
        pack,
        (BREAK_MAX,),
        explanation=[f"no employer break longer than {limit} d"],
    )


BREAK_RULES = (meeting_place, employer_break_resume, employer_break_long)
