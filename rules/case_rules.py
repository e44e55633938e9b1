"""Start-phase case rules: contact, first meeting, start, workplace phase, vocational plan.

rules.md "Case rules": CONTACT-NEXT-WD, FIRST-MEETING-1W, START-2W, WORKPLACE-1M with
ILLNESS-EXTENSION / sequencing / employer_delayed_start / interpreter_unavailable,
LONG-ILLNESS-CONTACT-KELA (advisory) and VOCATIONAL-PLAN. When a case ends without a
start-phase rule's event, a due date before the end stays ``breached`` (decision 1);
one on or after the end is ``not_applicable``.
"""

from __future__ import annotations

from datetime import date, timedelta

from contract.payloads import CasePayload, PausePayload
from rules.calendar import add_months
from rules.deadline import Deadline, Status
from rules.explain import CaseContext, Extension, inclusive_days, overlap_days
from rules.pack import RulePack

ILLNESS_CAP = "ILLNESS-EXTENSION.illness_extension_max_days"
SEQUENCING_CAP = "WORKPLACE-1M.sequencing_max_days"
_ONE_DAY = timedelta(days=1)


def qualifying_illness(case: CasePayload) -> list[PausePayload]:
    """Illness in the planning phase during which the client could not take part remotely."""
    first_meeting_on = case.first_meeting_on
    if first_meeting_on is None or not case.pauses:
        return []
    workplace_on = case.workplace_phase_started_on
    return [
        pause
        for pause in case.pauses
        if pause.kind == "illness"
        and pause.remote_participation_possible is False
        and pause.start_on >= first_meeting_on
        and (workplace_on is None or pause.start_on < workplace_on)
    ]


def illness_days(case: CasePayload) -> int:
    """Qualifying illness days before any cap."""
    return sum(inclusive_days(p.start_on, p.end_on) for p in qualifying_illness(case))


def _interpreter(case: CasePayload, trigger_on: date, base_due: date) -> list[Extension]:
    """interpreter_unavailable days inside the window (trigger day not counted)."""
    extensions = []
    for pause in case.pauses:
        if pause.kind == "interpreter_unavailable":
            days = overlap_days(pause.start_on, pause.end_on, trigger_on + _ONE_DAY, base_due)
            if days:
                extensions.append(
                    Extension(
                        f"interpreter_unavailable {pause.start_on}..{pause.end_on}",
                        days,
                        "days inside the window, no cap",
                    )
                )
    return extensions


def contact_next_wd(ctx: CaseContext) -> Deadline:
    """CONTACT-NEXT-WD: first contact by the next working day after the decision arrives."""
    case = ctx.case
    key = "CONTACT-NEXT-WD.working_days"

    def due(pack: RulePack, trigger_on: date) -> tuple[date, str, list[Extension], list[str]]:
        on = trigger_on
        calendar = ctx.env.calendar
        for _ in range(pack.days(key)):
            on = calendar.next_working_day(on)
        return on, f"base period: {pack.days(key)} working day(s) -> {on}", [], []

    return ctx.timed(
        "CONTACT-NEXT-WD",
        trigger=("decision_received_on", case.decision_received_on),
        event=("first_contact_on", case.first_contact_on),
        keys=(key,),
        due=due,
        start_phase=True,
    )


def first_meeting_1w(ctx: CaseContext) -> Deadline:
    """FIRST-MEETING-1W: first meeting at the latest 1 week after the first contact."""
    case = ctx.case
    key = "FIRST-MEETING-1W.days"

    def due(pack: RulePack, trigger_on: date) -> tuple[date, str, list[Extension], list[str]]:
        base = trigger_on + timedelta(days=pack.days(key))
        return base, f"base period: {pack.days(key)} days -> {base}", [], []

    return ctx.timed(
        "FIRST-MEETING-1W",
        trigger=("first_contact_on", case.first_contact_on),
        event=("first_meeting_on", case.first_meeting_on),
        keys=(key,),
        due=due,
        start_phase=True,
    )


def start_2w(ctx: CaseContext) -> Deadline:
    """START-2W: first meeting within 2 weeks of the decision (+ interpreter days)."""
    case = ctx.case
    key = "START-2W.days"

    def due(pack: RulePack, trigger_on: date) -> tuple[date, str, list[Extension], list[str]]:
        base = trigger_on + timedelta(days=pack.days(key))
        extensions = _interpreter(case, trigger_on, base) if case.pauses else []
        return base, f"base period: {pack.days(key)} days -> {base}", extensions, []

    return ctx.timed(
        "START-2W",
        trigger=("decision_received_on", case.decision_received_on),
        event=("first_meeting_on", case.first_meeting_on),
        keys=(key,),
        due=due,
        start_phase=True,
    )


def _capped(label: str, days: int, cap: int, cap_key: str) -> Extension:
    if days > cap:
        return Extension(label, cap, f"{days} d capped at {cap} d by {cap_key}")
    return Extension(label, days, f"cap {cap} d in total ({cap_key})")


def _workplace_extensions(
    case: CasePayload, pack: RulePack, trigger_on: date, base_due: date
) -> tuple[list[Extension], list[str]]:
    extensions: list[Extension] = []
    notes: list[str] = []
    illness = illness_days(case)
    if illness:
        extensions.append(
            _capped(
                "illness without remote participation", illness, pack.days(ILLNESS_CAP), ILLNESS_CAP
            )
        )
    sequencing = 0
    for pause in case.pauses:
        if pause.kind == "sequencing" and pause.reason == "awaiting_employer_replies":
            if pause.start_on >= base_due:
                sequencing += inclusive_days(pause.start_on, pause.end_on)
            else:
                notes.append(
                    f"sequencing {pause.start_on}..{pause.end_on} not counted: "
                    f"starts before the base due date {base_due}"
                )
    if sequencing:
        extensions.append(
            _capped(
                "sequencing awaiting_employer_replies",
                sequencing,
                pack.days(SEQUENCING_CAP),
                SEQUENCING_CAP,
            )
        )
    due_so_far = base_due + timedelta(days=sum(ext.days for ext in extensions))
    for pause in case.pauses:
        if pause.kind == "employer_delayed_start":
            confirmed = pause.start_confirmed_on
            if confirmed is not None and confirmed <= due_so_far:
                extensions.append(
                    Extension(
                        f"employer_delayed_start {pause.start_on}..{pause.end_on}",
                        inclusive_days(pause.start_on, pause.end_on),
                        f"start confirmed on {confirmed}, no cap",
                    )
                )
            else:
                notes.append(
                    f"employer_delayed_start {pause.start_on}..{pause.end_on} not counted: "
                    f"start not confirmed by the due date {due_so_far}"
                )
    extensions.extend(_interpreter(case, trigger_on, base_due))
    return extensions, notes


def workplace_1m(ctx: CaseContext) -> Deadline:
    """WORKPLACE-1M: workplace phase within 1 month of the first meeting, plus extensions."""
    case = ctx.case
    key = "WORKPLACE-1M.months"

    def due(pack: RulePack, trigger_on: date) -> tuple[date, str, list[Extension], list[str]]:
        base = add_months(trigger_on, pack.days(key))
        text = f"base period: {pack.days(key)} month(s), same day number clipped -> {base}"
        if not case.pauses:
            return base, text, [], []
        extensions, notes = _workplace_extensions(case, pack, trigger_on, base)
        return base, text, extensions, notes

    return ctx.timed(
        "WORKPLACE-1M",
        trigger=("first_meeting_on", case.first_meeting_on),
        event=("workplace_phase_started_on", case.workplace_phase_started_on),
        keys=(key, ILLNESS_CAP, SEQUENCING_CAP),
        due=due,
        start_phase=True,
    )


def long_illness(ctx: CaseContext) -> Deadline:
    """LONG-ILLNESS-CONTACT-KELA: advisory when qualifying illness exceeds the cap."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    cap = pack.days(ILLNESS_CAP)
    pauses = qualifying_illness(case)
    total = sum(inclusive_days(p.start_on, p.end_on) for p in pauses)
    if total > cap:
        return ctx.make(
            "LONG-ILLNESS-CONTACT-KELA",
            Status.ADVISORY,
            pack,
            (ILLNESS_CAP,),
            details=[f"illness {p.start_on}..{p.end_on}" for p in pauses],
            explanation=[
                (
                    f"qualifying illness {total} d exceeds the {cap} d extension cap: "
                    "assess timeliness and contact Kela"
                )
            ],
        )
    return ctx.make(
        "LONG-ILLNESS-CONTACT-KELA",
        Status.NOT_APPLICABLE,
        pack,
        (ILLNESS_CAP,),
        explanation=[f"qualifying illness {total} d within the {cap} d cap"],
    )


def vocational_plan(ctx: CaseContext) -> Deadline:
    """VOCATIONAL-PLAN: plan done by the start of the workplace phase (timing provisional)."""
    case = ctx.case
    key = "VOCATIONAL-PLAN.days_after_workplace_start"
    if case.workplace_phase_started_on is None and case.ended_on is not None:
        pack = ctx.pack_on(None)
        if case.vocational_plan_on is not None:
            return ctx.make(
                "VOCATIONAL-PLAN",
                Status.MET,
                pack,
                (key,),
                event_on=case.vocational_plan_on,
                explanation=[f"vocational plan done {case.vocational_plan_on}"],
            )
        return ctx.make(
            "VOCATIONAL-PLAN",
            Status.NOT_APPLICABLE,
            pack,
            (key,),
            explanation=[f"case ended on {case.ended_on} before the workplace phase"],
        )

    def due(pack: RulePack, trigger_on: date) -> tuple[date, str, list[Extension], list[str]]:
        base = trigger_on + timedelta(days=pack.days(key))
        return base, f"base period: {pack.days(key)} days -> {base}", [], []

    return ctx.timed(
        "VOCATIONAL-PLAN",
        trigger=("workplace_phase_started_on", case.workplace_phase_started_on),
        event=("vocational_plan_on", case.vocational_plan_on),
        keys=(key,),
        due=due,
        roll=False,
        start_phase=True,
    )


START_PHASE_RULES = (contact_next_wd, first_meeting_1w, start_2w, workplace_1m)
