"""Service-window and closing case rules.

TOTAL-DURATION (never extended, never rolled, with an ``at_risk`` forecast),
FINAL-DISCUSSION, FEEDBACK-DUE (provisional period) and FEEDBACK-RECORDS-EXTENSIONS.

``at_risk`` forecast of TOTAL-DURATION: the remaining planned days are the day quota
minus the realized days; the case is at risk when the working days from today (or the
first meeting, when later) up to the due date, both included, cannot hold them.
"""

from __future__ import annotations

from datetime import date, timedelta

from rules.calendar import add_months
from rules.case_rules import ILLNESS_CAP, illness_extension_days
from rules.deadline import Deadline, Status
from rules.explain import CaseContext, Extension
from rules.pack import RulePack


def total_duration(ctx: CaseContext) -> Deadline:
    """TOTAL-DURATION: the whole service within 5 (TK) / 13 (TV) months of the first meeting."""
    case = ctx.case
    env = ctx.env
    first_meeting_on = case.first_meeting_on
    pack = ctx.pack_on(first_meeting_on)
    months_key, quota_key = f"TOTAL-DURATION.{case.service}_months", f"DAY-QUOTA.{case.service}"
    keys = (months_key, quota_key)
    if first_meeting_on is None:
        return ctx.make(
            "TOTAL-DURATION",
            Status.WAITING,
            pack,
            keys,
            explanation=["waiting: first_meeting_on not known yet"],
        )
    months = pack.days(months_key)
    due_on = add_months(first_meeting_on, months)
    lines = [
        f"trigger: first_meeting_on {first_meeting_on}",
        f"base period: {months} months, same day number clipped -> {due_on}",
        "no extension of any kind; no roll (service-window end)",
    ]
    late = [f"{day.on}: day after the service window" for day in case.days if day.on > due_on]
    late += [f"{m.on}: meeting after the service window" for m in case.meetings if m.on > due_on]
    ended_on = case.ended_on
    if late:
        return ctx.make(
            "TOTAL-DURATION",
            Status.BREACHED,
            pack,
            keys,
            due_on=due_on,
            event_on=ended_on,
            details=late,
            explanation=lines,
        )
    if ended_on is not None:
        lines.append(f"event: ended_on {ended_on}")
        return ctx.make(
            "TOTAL-DURATION",
            env.timed_status(due_on, ended_on),
            pack,
            keys,
            due_on=due_on,
            event_on=ended_on,
            explanation=lines,
        )
    status = env.timed_status(due_on, None)
    if status is not Status.BREACHED:
        quota = pack.days(quota_key)
        realized = sum(1 for day in case.days if day.status == "realized")
        remaining = quota - realized
        working_left = env.calendar.working_days_between(max(env.today, first_meeting_on), due_on)
        lines.append(
            f"forecast: {working_left} working day(s) left for {remaining} planned day(s) "
            f"(quota {quota} - {realized} realized)"
        )
        if working_left < remaining:
            status = Status.AT_RISK
    return ctx.make("TOTAL-DURATION", status, pack, keys, due_on=due_on, explanation=lines)


def at_risk_from(ctx: CaseContext, due_on: date) -> date | None:
    """First day after today on which TOTAL-DURATION's forecast turns ``at_risk``, if any.

    The working days left only shrink as days pass while the remaining planned days
    stay the same (for an unchanged case), so the forecast is monotone: binary search
    over the days up to ``due_on``. None when it stays satisfiable until then.
    """
    case = ctx.case
    first_meeting_on = case.first_meeting_on
    if first_meeting_on is None:
        return None
    pack = ctx.pack_on(first_meeting_on)
    remaining = pack.days(f"DAY-QUOTA.{case.service}") - sum(
        1 for day in case.days if day.status == "realized"
    )
    between = ctx.env.calendar.working_days_between
    low, high = ctx.env.today + timedelta(days=1), due_on
    if low > high or between(max(high, first_meeting_on), due_on) >= remaining:
        return None
    while low < high:  # invariant: the forecast fails on ``high``
        middle = low + (high - low) // 2
        if between(max(middle, first_meeting_on), due_on) < remaining:
            high = middle
        else:
            low = middle + timedelta(days=1)
    return low


def final_discussion(ctx: CaseContext) -> Deadline:
    """FINAL-DISCUSSION: 60 min at the client's workplace by a completed case's end."""
    case = ctx.case
    ended_on = case.ended_on
    pack = ctx.pack_on(ended_on)
    key = "FINAL-DISCUSSION.minutes"
    if ended_on is None:
        return ctx.make(
            "FINAL-DISCUSSION",
            Status.WAITING,
            pack,
            (key,),
            explanation=["waiting: ended_on not known yet"],
        )
    if case.end_reason != "completed":
        return ctx.make(
            "FINAL-DISCUSSION",
            Status.NOT_APPLICABLE,
            pack,
            (key,),
            explanation=[
                (
                    f"case ended {case.end_reason or 'without end_reason'}: "
                    "a final discussion is required only for a completed service"
                )
            ],
        )
    minutes = pack.days(key)
    finals = [m for m in case.meetings if m.kind == "final_discussion"]
    held = [m for m in finals if m.on <= ended_on]
    details = [
        f"{m.on}: final discussion after ended_on, not counted" for m in finals if m.on > ended_on
    ]
    lines = [f"trigger: ended_on {ended_on} (completed)", f"due on the end date {ended_on}"]
    if not held:
        status = ctx.env.timed_status(ended_on, None)
        return ctx.make(
            "FINAL-DISCUSSION",
            status,
            pack,
            (key,),
            due_on=ended_on,
            details=details,
            explanation=[*lines, "no final discussion recorded"],
        )
    meeting = held[-1]
    status = Status.MET
    if meeting.place == "office":
        details.append(
            f"{meeting.on}: held at the office (allowed only when the workplace is impossible)"
        )
    elif meeting.place != "workplace":
        details.append(f"{meeting.on}: held at {meeting.place}, not at the workplace")
        status = Status.BREACHED
    if meeting.minutes != minutes:
        details.append(f"{meeting.on}: {meeting.minutes} min instead of {minutes}")
        status = Status.BREACHED
    lines.append(f"event: final discussion {meeting.on}, {meeting.place}, {meeting.minutes} min")
    return ctx.make(
        "FINAL-DISCUSSION",
        status,
        pack,
        (key,),
        due_on=ended_on,
        event_on=meeting.on,
        details=details,
        explanation=lines,
    )


def feedback_due(ctx: CaseContext) -> Deadline:
    """FEEDBACK-DUE: feedback report to Kela within the (provisional) period after the end."""
    case = ctx.case
    key = "FEEDBACK-DUE.feedback_due_days"

    def due(pack: RulePack, trigger_on: date) -> tuple[date, str, list[Extension], list[str]]:
        base = trigger_on + timedelta(days=pack.days(key))
        return base, f"base period: {pack.days(key)} days (PROVISIONAL) -> {base}", [], []

    return ctx.timed(
        "FEEDBACK-DUE",
        trigger=("ended_on", case.ended_on),
        event=("feedback_sent_on", case.feedback_sent_on),
        keys=(key,),
        due=due,
    )


def feedback_records_extensions(ctx: CaseContext) -> Deadline:
    """FEEDBACK-RECORDS-EXTENSIONS: a used illness extension is stated in the feedback."""
    case = ctx.case
    pack = ctx.pack_on(case.ended_on)
    rule = "FEEDBACK-RECORDS-EXTENSIONS"
    used = illness_extension_days(case, ctx.pack_on(case.first_meeting_on), ctx.env.calendar)
    if not used:
        return ctx.make(
            rule,
            Status.NOT_APPLICABLE,
            pack,
            (ILLNESS_CAP,),
            explanation=["no illness extension used"],
        )
    sent_on = case.feedback_sent_on
    if sent_on is None:
        return ctx.make(
            rule,
            Status.WAITING,
            pack,
            (ILLNESS_CAP,),
            explanation=[f"{used} d illness extension used; feedback not sent yet"],
        )
    lines = [f"{used} d illness extension used; feedback sent {sent_on}"]
    if case.feedback_records_extensions is True:
        return ctx.make(rule, Status.MET, pack, (ILLNESS_CAP,), event_on=sent_on, explanation=lines)
    return ctx.make(
        rule,
        Status.BREACHED,
        pack,
        (ILLNESS_CAP,),
        event_on=sent_on,
        details=[f"{sent_on}: feedback does not record the {used} d extension"],
        explanation=lines,
    )


END_RULES = (total_duration, final_discussion, feedback_due, feedback_records_extensions)
