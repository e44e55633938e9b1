"""When an unchanged case's deadlines can next change just because the date moved.

Due dates move only when a case or the rule pack changes; statuses move with the date.
For one evaluated case, :func:`next_change_on` is the first later day on which
evaluating the same case could give a different status: an ``open`` deadline turns
``due_soon`` ``warn_days`` before its due date, a ``due_soon`` or ``at_risk`` one turns
``breached`` the day after, and TOTAL-DURATION's forecast may turn ``at_risk`` before
that (:func:`rules.case_end.at_risk_from`). Every other status of a case rule holds
until the case itself changes: an event makes it final, counted rules count recorded
items, ``breached`` without an event stays breached. Until that day, re-evaluating
the case would only recompute ``days_left``.

Audits and staff are not covered: they are few and evaluated on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from rules.case_end import at_risk_from
from rules.deadline import Deadline, Status
from rules.explain import CaseContext

_ONE_DAY = timedelta(days=1)
#: A case rule whose status follows other deadlines' statuses, not the date.
_DERIVED_RULES = frozenset({"ABSENCE-COVER"})


def next_change_on(ctx: CaseContext, deadlines: Sequence[Deadline]) -> date | None:
    """The first day after ``ctx.env.today`` the case must be evaluated again, or None."""
    today = ctx.env.today
    earliest: date | None = None
    for deadline in deadlines:
        due_on = deadline.due_on
        if (
            due_on is None
            or deadline.event_on is not None
            or deadline.count is not None
            or deadline.subject_kind != "case"
            or deadline.rule in _DERIVED_RULES
        ):
            continue
        match deadline.status:
            case Status.OPEN:
                on = due_on - timedelta(days=ctx.env.warn_days)
            case Status.DUE_SOON | Status.AT_RISK:
                on = due_on + _ONE_DAY
            case _:
                continue
        if deadline.rule == "TOTAL-DURATION" and deadline.status is not Status.AT_RISK:
            risk_on = at_risk_from(ctx, due_on)
            if risk_on is not None and risk_on < on:
                on = risk_on
        if earliest is None or on < earliest:
            earliest = on
    if earliest is None:
        return None
    return max(earliest, today + _ONE_DAY)
