"""What a notification run reads: the current deadlines that can have something new to say.

A row is *planned* once the notifier has written its alerts (or found it needs none),
or from the start when it can alert only through the warning window or never
(``policy.planned_when_stored``); see :mod:`notifications.planning`. This module holds
the queries: the candidates of a run, the marks, and the breached rows the daily
reminder counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, or_, select, update
from sqlmodel import Session

from models.alerting import OPEN_ALERT_STATUSES, Alert, DeadlineRecord, QuietDeadlineSet
from models.deadlines import DEADLINE_COLUMNS, from_columns
from models.ledger import Suppression
from models.provider_data import Case
from rules.deadline import ACTIONABLE_STATUSES, STATUS_OF, Deadline, ProviderDeadline, Status

_CHUNK = 500  # subjects per IN list
_IDS_CHUNK = 5000  # row ids per UPDATE (SQLite takes 32 766 parameters)


@dataclass(frozen=True, slots=True)
class BreachedRef:
    """A breached current deadline, as much of it as the reminder needs (no reasons)."""

    provider_id: str
    subject_kind: str
    subject: str
    rule: str
    office_id: str | None
    due_on: date | None


#: Row id -> current deadline: the rows one notification plan looks at.
Candidates = dict[int, ProviderDeadline]


def plan_candidates(
    *,
    session: Session,
    provider_id: str | None,
    today: date,
    window_days: int,
    suppressions: Sequence[Suppression] = (),
) -> Candidates:
    """The current deadlines that can have something new to alert on ``today``: the
    unplanned rows whole (most of them alert), the others narrow, without their reasons
    (:func:`hydrate` reads those for the rows that get alerts).

    Actionable rows (:data:`ACTIONABLE_STATUSES`) that are

    * not yet planned (new or changed rows that can alert on their own, or rows held
      for the send window: ``policy.planned_when_stored`` says which are stored planned),
    * ``open``/``due_soon`` dated rows due within ``window_days`` (a warning lead may
      be reached today: the row does not change, the date does),
    * named by an undelivered ledger entry (so the plan keeps or cancels it),
    * named by an acknowledgement or silence in force (listed as suppressed).

    Every other current row was planned before and can only say something new when it
    changes (a new row) or enters the window. Each query runs on its own index.
    """
    table = _TABLE
    base, built = _queries(provider_id is not None)
    params = {
        "provider_id": provider_id,
        "today": today,
        "until": today + timedelta(days=window_days),
    }
    subjects = sorted({s.subject for s in suppressions})
    rules_ = sorted({s.rule for s in suppressions})
    pairs = {(s.subject, s.rule) for s in suppressions}
    queries = [
        *built,
        *(
            base.where(table.c.subject.in_(subjects[i : i + _CHUNK]), table.c.rule.in_(rules_))
            for i in range(0, len(subjects), _CHUNK)
        ),
    ]
    found: Candidates = {}
    for number, query in enumerate(queries):
        for row in session.execute(query, params).all():
            if row[-1] in found:
                continue
            if number == 0 and row[4] not in _ACTIONABLE:
                continue
            if number == 1 and row[4] not in _WINDOW:
                continue
            if number >= 3 and (row[2], row[3]) not in pairs:
                continue
            found[row[-1]] = from_columns(row[:-1]) if number == 0 else _narrow(row[:-1])
    return found


_TABLE = DeadlineRecord.__table__  # type: ignore[attr-defined]


@cache
def _queries(one_provider: bool) -> tuple[Select[Any], tuple[Select[Any], ...]]:
    """The candidate queries (built once; bound: ``provider_id``, ``today``, ``until``):
    the actionable current rows (``base``), and the unplanned, window and pending ones."""
    table = _TABLE
    alert = Alert.__table__  # type: ignore[attr-defined]
    columns = (*(table.c[name] for name in _NARROW_COLUMNS), table.c.id)
    actionable = table.c.status.in_(sorted(s.value for s in ACTIONABLE_STATUSES))
    base = select(*columns).where(table.c.is_current, actionable)
    if one_provider:
        mine = table.c.provider_id == bindparam("provider_id")
        base = base.where(mine)
    else:
        mine = table.c.provider_id >= ""
    # Not `base`: given the status list, SQLite's planner walks ix_deadline_record_current_due
    # through every actionable current row (slow at national scale) instead of the
    # partial index of the few unplanned ones, which the provider_id term makes it
    # search. The statuses are checked on the rows found (ACTIONABLE below).
    whole = (*(table.c[name] for name in DEADLINE_COLUMNS), table.c.id)
    unplanned = select(*whole).where(table.c.is_current, ~table.c.planned, mine)
    dated = (table.c.due_on >= bindparam("today"), table.c.due_on <= bindparam("until"))
    if one_provider:  # through its own dated rows (ix_deadline_record_current_provider_due)
        window = select(*columns).where(table.c.is_current, mine, *dated)
    else:
        window = base.where(table.c.status.in_(sorted(_WINDOW)), *dated)
    keys = (alert.c.provider_id, alert.c.subject_kind, alert.c.subject, alert.c.rule)
    undelivered = select(*keys).where(alert.c.status.in_(OPEN_ALERT_STATUSES))
    if one_provider:  # one provider: its own alerts (ix_alert_provider_status)
        undelivered = undelivered.where(alert.c.provider_id == bindparam("provider_id"))
    named = undelivered.distinct().subquery()
    pending = base.join(
        named,
        (named.c.provider_id == table.c.provider_id)
        & (named.c.subject_kind == table.c.subject_kind)
        & (named.c.subject == table.c.subject)
        & (named.c.rule == table.c.rule),
    )
    return base, (unplanned, window, pending)


_ACTIONABLE = frozenset(s.value for s in ACTIONABLE_STATUSES)
#: The statuses a warning lead can reach. One provider's window rows are found through its
#: current rows (uq_deadline_record_current) and their status checked here: given the
#: statuses, SQLite walks ix_deadline_record_current_due through every provider's window.
_WINDOW = frozenset({Status.OPEN.value, Status.DUE_SOON.value})


#: What the policy and the router read of a candidate; reasons are read only for the
#: rows that get an alert (:func:`hydrate`): most candidates say nothing new.
_NARROW_COLUMNS = (
    "provider_id", "subject_kind", "subject", "rule", "status", "due_on", "office_id",
    "coach_id", "escalate", "count", "limit_value",
)  # fmt: skip


def _narrow(row: Any) -> ProviderDeadline:
    pid, kind, subject, rule, status, due_on, office, coach, escalate, count, limit = row
    deadline = Deadline(
        kind, subject, rule, STATUS_OF[status], due_on, office_id=office, coach_id=coach,
        escalate=bool(escalate), count=count, limit=limit,
    )  # fmt: skip
    return ProviderDeadline(pid, deadline)


def hydrate(*, session: Session, ids: Iterable[int]) -> dict[int, ProviderDeadline]:
    """The whole rows (reasons, details, link) of these candidates, by row id."""
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    chosen = sorted(set(ids))
    found: dict[int, ProviderDeadline] = {}
    columns = (*(table.c[name] for name in DEADLINE_COLUMNS), table.c.id)
    for start in range(0, len(chosen), _IDS_CHUNK):
        query = select(*columns).where(table.c.id.in_(chosen[start : start + _IDS_CHUNK]))
        for row in session.execute(query).all():
            found[row[-1]] = from_columns(row[:-1])
    return found


_MARK_PLANNED = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)), ~_TABLE.c.planned)
    .values(planned=True)
)


def mark_planned(*, session: Session, ids: Iterable[int]) -> int:
    """Mark rows planned (their alerts are in the ledger, or they need none)."""
    chosen = sorted(set(ids))
    for start in range(0, len(chosen), _IDS_CHUNK):
        session.execute(_MARK_PLANNED, {"ids": chosen[start : start + _IDS_CHUNK]})
    return len(chosen)


def breached_refs(
    *, session: Session, before: date, provider_id: str | None = None
) -> list[BreachedRef]:
    """Breached current deadlines written before ``before``, as the reminder needs them.

    A row written today was alerted today: the reminder starts on the next working day.
    A case's breach is not repeated once the case has ended (rules.md decision 1): it
    stays in reports only.
    """
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    cases = Case.__table__  # type: ignore[attr-defined]
    ended = (
        select(cases.c.id)
        .where(
            cases.c.provider_id == table.c.provider_id,
            cases.c.case_ref == table.c.subject,
            cases.c.ended_on < before,
        )
        .exists()
    )
    query = select(
        table.c.provider_id,
        table.c.subject_kind,
        table.c.subject,
        table.c.rule,
        table.c.office_id,
        table.c.due_on,
    ).where(
        table.c.is_current,
        table.c.status == Status.BREACHED.value,
        table.c.evaluated_on < before,
        or_(table.c.subject_kind != "case", ~ended),
    )
    if provider_id is not None:
        query = query.where(table.c.provider_id == provider_id)
    return [BreachedRef(*row) for row in session.execute(query)]


def seen_providers(*, session: Session, provider_ids: Iterable[str], before: date) -> set[str]:
    """The providers with a history: an alert in the ledger, or a current deadline (or quiet
    set) evaluated before ``before``. The others are on their first check. Each question
    runs on an index of the provider's own rows (current ones: their partial indexes),
    never on the whole history."""
    alert = Alert.__table__  # type: ignore[attr-defined]
    quiet = QuietDeadlineSet.__table__  # type: ignore[attr-defined]
    seen: set[str] = set()
    for provider_id in sorted(set(provider_ids)):
        earlier = (
            select(alert.c.id).where(alert.c.provider_id == provider_id).exists(),
            select(_TABLE.c.id)
            .where(
                _TABLE.c.provider_id == provider_id,
                _TABLE.c.is_current,
                _TABLE.c.evaluated_on < before,
            )
            .exists(),
            select(quiet.c.id)
            .where(
                quiet.c.provider_id == provider_id,
                quiet.c.is_current,
                quiet.c.evaluated_on < before,
            )
            .exists(),
        )
        if any(session.scalar(select(query)) for query in earlier):
            seen.add(provider_id)
    return seen
