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
from rules.calendar import FinnishCalendar, add_months
from rules.deadline import Deadline, Status
from rules.explain import CaseContext, Extension, inclusive_days, overlap_days
from rules.pack import RulePack

ILLNESS_CAP = "ILLNESS-EXTENSION.illness_extension_max_days"
SEQUENCING_CAP = "WORKPLACE-1M.sequencing_max_days"
_ONE_DAY = timedelta(days=1)


def qualifying_illness(case: CasePayload, first_meeting_on: date) -> list[PausePayload]:
    """Illness in the planning phase during which the client could not take part remotely."""
    workplace_on = case.workplace_phase_started_on
    return [
        pause
        for pause in case.pauses
        if pause.kind == "illness"
        and pause.remote_participation_possible is False
        and pause.start_on >= first_meeting_on
        and (workplace_on is None or pause.start_on < workplace_on)
    ]


def illness_extension_days(case: CasePayload, pack: RulePack, calendar: FinnishCalendar) -> int:
    """The illness days WORKPLACE-1M counted (in the order pauses begin, within the cap)."""
    first_meeting_on = case.first_meeting_on
    if first_meeting_on is None or not case.pauses:
        return 0
    base = add_months(first_meeting_on, pack.days("WORKPLACE-1M.months"))
    return _stretched(case, pack, first_meeting_on, base, calendar).counted["illness"]


def _interpreter(case: CasePayload, trigger_on: date, base_due: date) -> list[Extension]:
    """interpreter_unavailable days inside the window (trigger day not counted)."""
    extensions = []
    for pause in case.pauses:
        if pause.kind == "interpreter_unavailable":
            days = overlap_days(pause.start_on, pause.end_on, trigger_on + _ONE_DAY, base_due)
            if days:
                extensions.append(_interpreter_extension(pause, days))
    return extensions


def _interpreter_extension(pause: PausePayload, days: int) -> Extension:
    return Extension(
        f"interpreter_unavailable {pause.start_on}..{pause.end_on}",
        days,
        "days inside the window, no cap",
    )


def _too_late(pause: PausePayload, reached: date) -> str:
    """Decision 2's note for a pause that began after the due date reached so far."""
    end = pause.end_on.isoformat()
    if pause.end_on.year == pause.start_on.year:
        end = end[5:]
    return f"{pause.kind} {pause.start_on}..{end} began after the due date {reached}: not counted"


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


class _Stretch:
    """WORKPLACE-1M's due date as pauses extend it, taken in the order they begin.

    A pause that begins after the due date reached so far (rolled to a working day)
    never revives it (rules.md decision 2); sequencing may begin on the working day after.
    """

    __slots__ = (
        "base_due",
        "calendar",
        "caps",
        "counted",
        "due_on",
        "notes",
        "raw",
        "trigger_on",
        "uncapped",
    )

    def __init__(
        self, pack: RulePack, trigger_on: date, base_due: date, calendar: FinnishCalendar
    ) -> None:
        self.calendar = calendar
        self.trigger_on = trigger_on
        self.base_due = base_due
        self.due_on = base_due
        self.caps = {"illness": pack.days(ILLNESS_CAP), "sequencing": pack.days(SEQUENCING_CAP)}
        self.counted = {"illness": 0, "sequencing": 0}
        self.raw = {"illness": 0, "sequencing": 0}
        self.uncapped: list[Extension] = []
        self.notes: list[str] = []

    def reached(self) -> date:
        """The due date reached so far, rolled to a working day."""
        return self.calendar.roll(self.due_on).on

    def capped(self, kind: str, pause: PausePayload) -> None:
        """Illness or sequencing: days up to the kind's cap in total."""
        days = inclusive_days(pause.start_on, pause.end_on)
        fits = min(days, self.caps[kind] - self.counted[kind])
        self.raw[kind] += days
        self.counted[kind] += fits
        self.due_on += timedelta(days=fits)

    def illness(self, pause: PausePayload) -> None:
        reached = self.reached()
        if pause.start_on > reached:
            self.notes.append(_too_late(pause, reached))
        else:
            self.capped("illness", pause)

    def sequencing(self, pause: PausePayload) -> None:
        reached = self.reached()
        if pause.start_on < self.base_due:
            self.notes.append(
                f"sequencing {pause.start_on}..{pause.end_on} not counted: "
                f"starts before the base due date {self.base_due}"
            )
        elif pause.start_on > reached and pause.start_on != self.calendar.next_working_day(reached):
            self.notes.append(_too_late(pause, reached))
        else:
            self.capped("sequencing", pause)

    def delayed_start(self, pause: PausePayload) -> None:
        reached = self.reached()
        confirmed = pause.start_confirmed_on
        if confirmed is None or confirmed > reached:
            self.notes.append(
                f"employer_delayed_start {pause.start_on}..{pause.end_on} not counted: "
                f"start not confirmed by the due date {reached}"
            )
            return
        days = inclusive_days(pause.start_on, pause.end_on)
        self.uncapped.append(
            Extension(
                f"employer_delayed_start {pause.start_on}..{pause.end_on}",
                days,
                f"start confirmed on {confirmed}, no cap",
            )
        )
        self.due_on += timedelta(days=days)

    def interpreter(self, pause: PausePayload) -> None:
        days = overlap_days(pause.start_on, pause.end_on, self.trigger_on + _ONE_DAY, self.base_due)
        if days:
            self.uncapped.append(_interpreter_extension(pause, days))
            self.due_on += timedelta(days=days)
        elif pause.start_on > self.reached():
            self.notes.append(_too_late(pause, self.reached()))

    def extensions(self) -> list[Extension]:
        found = [
            _capped(label, self.raw[kind], self.caps[kind], key)
            for kind, label, key in (
                ("illness", "illness without remote participation", ILLNESS_CAP),
                ("sequencing", "sequencing awaiting_employer_replies", SEQUENCING_CAP),
            )
            if self.raw[kind]
        ]
        return [*found, *self.uncapped]


def _workplace_extensions(
    case: CasePayload, pack: RulePack, trigger_on: date, base_due: date, calendar: FinnishCalendar
) -> tuple[list[Extension], list[str]]:
    stretch = _stretched(case, pack, trigger_on, base_due, calendar)
    return stretch.extensions(), stretch.notes


def _stretched(
    case: CasePayload, pack: RulePack, trigger_on: date, base_due: date, calendar: FinnishCalendar
) -> _Stretch:
    qualifying = {id(pause) for pause in qualifying_illness(case, trigger_on)}
    stretch = _Stretch(pack, trigger_on, base_due, calendar)
    for pause in sorted(case.pauses, key=lambda pause: pause.start_on):
        if id(pause) in qualifying:
            stretch.illness(pause)
        elif pause.kind == "sequencing" and pause.reason == "awaiting_employer_replies":
            stretch.sequencing(pause)
        elif pause.kind == "employer_delayed_start":
            stretch.delayed_start(pause)
        elif pause.kind == "interpreter_unavailable":
            stretch.interpreter(pause)
    return stretch


def workplace_1m(ctx: CaseContext) -> Deadline:
    """WORKPLACE-1M: workplace phase within 1 month of the first meeting, plus extensions."""
    case = ctx.case
    key = "WORKPLACE-1M.months"

    def due(pack: RulePack, trigger_on: date) -> tuple[date, str, list[Extension], list[str]]:
        base = add_months(trigger_on, pack.days(key))
        text = f"base period: {pack.days(key)} month(s), same day number clipped -> {base}"
        if not case.pauses:
            return base, text, [], []
        extensions, notes = _workplace_extensions(case, pack, trigger_on, base, ctx.env.calendar)
        return base, text, extensions, notes

    return ctx.timed(
        "WORKPLACE-1M",
        trigger=("first_meeting_on", case.first_meeting_on),
        event=("workplace_phase_started_on", case.workplace_phase_started_on),
        keys=(key, ILLNESS_CAP, SEQUENCING_CAP),
        due=due,
        start_phase=True,
    )


def illness_episodes(case: CasePayload, calendar: FinnishCalendar) -> list[tuple[date, date, str]]:
    """Illness without remote participation from the first meeting on, merged into episodes
    (rules.md decision 4): pauses that overlap, touch or lie apart only by non-working days
    are one. Each episode: first day, last day, and the phase it began in."""
    first_meeting_on = case.first_meeting_on
    if first_meeting_on is None:
        return []
    pauses = sorted(
        (p.start_on, p.end_on)
        for p in case.pauses
        if p.kind == "illness"
        and p.remote_participation_possible is False
        and p.start_on >= first_meeting_on
    )
    merged: list[list[date]] = []
    for start_on, end_on in pauses:
        if merged and _joins(merged[-1][1], start_on, calendar):
            merged[-1][1] = max(merged[-1][1], end_on)
        else:
            merged.append([start_on, end_on])
    workplace_on = case.workplace_phase_started_on
    return [
        (
            start_on,
            end_on,
            "planning phase"
            if workplace_on is None or start_on < workplace_on
            else "workplace phase",
        )
        for start_on, end_on in merged
    ]


def _joins(end_on: date, start_on: date, calendar: FinnishCalendar) -> bool:
    """The next pause continues the episode: no working day lies between them."""
    return calendar.working_days_between(end_on + _ONE_DAY, start_on - _ONE_DAY) == 0


def long_illness(ctx: CaseContext) -> Deadline:
    """LONG-ILLNESS-CONTACT-KELA: advisory when one illness episode is longer than the cap."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    cap = pack.days(ILLNESS_CAP)
    episodes = [
        (start_on, end_on, phase, inclusive_days(start_on, end_on))
        for start_on, end_on, phase in illness_episodes(case, ctx.env.calendar)
    ]
    long = [episode for episode in episodes if episode[3] > cap]
    if long:
        return ctx.make(
            "LONG-ILLNESS-CONTACT-KELA",
            Status.ADVISORY,
            pack,
            (ILLNESS_CAP,),
            details=[
                f"illness episode {start_on}..{end_on}: {days} d in the {phase}"
                for start_on, end_on, phase, days in long
            ],
            explanation=[
                (
                    f"an illness episode longer than the {cap} d cap: "
                    "assess whether the rehabilitation is still timely and contact Kela"
                )
            ],
        )
    longest = max((episode[3] for episode in episodes), default=0)
    return ctx.make(
        "LONG-ILLNESS-CONTACT-KELA",
        Status.NOT_APPLICABLE,
        pack,
        (ILLNESS_CAP,),
        explanation=[f"longest illness episode {longest} d, within the {cap} d cap"],
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
