"""Staff rules (quality staff): team size, first aid, cover for absent coaches.

COACH-TEAM-MIN-3: active coaches present today per provider (subject_kind ``provider``);
``at_risk`` when an absence starting inside the warning window drops the team below the
minimum; an empty staff list is ``breached`` (0 of 3), no staff data ``unconfigured``.
FIRST-AID-VALID: each active coach, warned 60 days before expiry; a missing
date is a breach. ABSENCE-COVER: a case deadline still to be met that falls inside its
coach's absence goes to the substitute (``ok``, coach_id = the substitute) or, with no
available substitute, to quality staff (``at_risk``). Inactive coaches are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from contract.payloads import CoachPayload
from rules.deadline import Deadline, Status
from rules.explain import CaseContext, Env, build

#: Deadlines that still need the coach to act.
UNRESOLVED = frozenset({Status.OPEN, Status.DUE_SOON, Status.AT_RISK, Status.BREACHED})


def is_absent(coach: CoachPayload, on: date) -> bool:
    """The coach is away on ``on``."""
    return any(a.start_on <= on <= a.end_on for a in coach.absent)


def _team(staff: Sequence[CoachPayload], env: Env, subject: str) -> Deadline:
    pack = env.pack_on(env.today)
    key = "COACH-TEAM-MIN-3.min"
    minimum = pack.days(key)
    active = [coach for coach in staff if coach.active]

    def present_on(on: date) -> list[CoachPayload]:
        return [coach for coach in active if not is_absent(coach, on)]

    present = present_on(env.today)
    count = len(present)
    lines = [f"{count} active coach(es) present on {env.today}; minimum {minimum}"]
    status, due_on, details = Status.OK, None, []
    if count < minimum:
        status = Status.BREACHED
        details = [f"{c.id} absent" for c in active if c not in present]
        if not staff:
            details = ["no coach on the staff list"]
    else:
        horizon = env.today + timedelta(days=env.warn_days)
        starts = sorted(
            {a.start_on for c in active for a in c.absent if env.today < a.start_on <= horizon}
        )
        for on in starts:
            later = len(present_on(on))
            if later < minimum:
                status, due_on, count = Status.AT_RISK, on, later
                details = [f"{on}: only {later} coach(es) present"]
                break
    return build(
        env,
        subject_kind="provider",
        subject=subject,
        rule="COACH-TEAM-MIN-3",
        status=status,
        pack=pack,
        keys=(key,),
        due_on=due_on,
        details=details,
        explanation=lines,
        count=count,
        limit=minimum,
    )


def _first_aid(coach: CoachPayload, env: Env) -> Deadline:
    pack = env.pack_on(env.today)
    key = "FIRST-AID-VALID.warn_days"
    valid_until = coach.first_aid_valid_until
    details: list[str] = []
    if valid_until is None:
        status = Status.BREACHED
        details = ["no first_aid_valid_until recorded"]
        lines = ["first-aid training validity unknown"]
    else:
        status = env.timed_status(valid_until, None, lead=pack.days(key))
        if status is Status.BREACHED:
            lines = [f"first-aid training expired after {valid_until}"]
        else:
            lines = [
                (
                    f"first-aid training valid until {valid_until}; warning "
                    f"{pack.days(key)} days before"
                )
            ]
    return build(
        env,
        subject_kind="coach",
        subject=coach.id,
        rule="FIRST-AID-VALID",
        status=status,
        pack=pack,
        keys=(key,),
        due_on=valid_until,
        details=details,
        explanation=lines,
        office_id=coach.office_id,
        coach_id=coach.id,
    )


def _no_staff_data(env: Env, subject: str) -> Deadline:
    pack = env.pack_on(env.today)
    return build(
        env,
        subject_kind="provider",
        subject=subject,
        rule="COACH-TEAM-MIN-3",
        status=Status.UNCONFIGURED,
        pack=pack,
        keys=("COACH-TEAM-MIN-3.min",),
        explanation=["no staff data: the staff list has never been read"],
    )


def evaluate_staff(
    staff: Sequence[CoachPayload] | None, env: Env, provider_id: str | None
) -> list[Deadline]:
    """Team size for the provider and first aid for each active coach.

    The team rule always answers (rules.md decision 8): an empty list (or one whose
    every coach was rejected) is a team of 0; ``None``, no staff data at all, is
    ``unconfigured``.
    """
    subject = provider_id or "provider"
    if staff is None:
        return [_no_staff_data(env, subject)]
    deadlines = [_team(staff, env, subject)]
    deadlines.extend(_first_aid(coach, env) for coach in staff if coach.active)
    return deadlines


def absence_cover(
    ctx: CaseContext, deadlines: Sequence[Deadline], coaches: Mapping[str, CoachPayload]
) -> Deadline | None:
    """ABSENCE-COVER for one case, or None when no deadline falls in the coach's absence."""
    coach = coaches.get(ctx.case.coach_id)
    if coach is None or not coach.absent:
        return None
    affected = [
        d
        for d in deadlines
        if d.status in UNRESOLVED and d.due_on is not None and is_absent(coach, d.due_on)
    ]
    if not affected:
        return None
    due_dates = [d.due_on for d in affected if d.due_on is not None]
    due_on = min(due_dates)
    details = [f"{d.rule} due {d.due_on} falls in coach {coach.id}'s absence" for d in affected]
    substitute = coaches.get(coach.substitute_id or "")
    pack = ctx.pack_on(None)
    if (
        substitute is not None
        and substitute.active
        and not any(is_absent(substitute, on) for on in due_dates)
    ):
        return build(
            ctx.env,
            subject_kind="case",
            subject=ctx.case.case_ref,
            rule="ABSENCE-COVER",
            status=Status.OK,
            pack=pack,
            due_on=due_on,
            details=details,
            explanation=[f"routed to substitute {substitute.id}"],
            office_id=ctx.case.office_id,
            coach_id=substitute.id,
            link=ctx.case.case_url,
            language=ctx.case.language,
        )
    why = (
        "no substitute on the staff list"
        if substitute is None
        else f"substitute {substitute.id} unavailable"
    )
    return ctx.make(
        "ABSENCE-COVER",
        Status.AT_RISK,
        pack,
        due_on=due_on,
        details=details,
        explanation=[f"{why}: tell quality staff"],
    )
