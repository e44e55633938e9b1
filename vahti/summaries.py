"""What the steps return: small plain summaries, never whole datasets, never personal data.

Counts cover everything; the operator tables hold at most :data:`ROW_CAP` rows (case
references, rule ids, dates and the engine's reasons only). A stored provider's
summary is counted in SQL (:func:`summarize_stored`: three queries on the provider's
current rows), an in-memory evaluation's in Python (:func:`summarize`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session

from models.alerting import DeadlineRecord
from notifications.deadlines import DEADLINE_COLUMNS, from_columns
from rules.deadline import BREACH_STATUSES, Deadline, Status
from vahti.rows import DeadlineRow, ProvisionalRow, RejectedRow, deadline_row, provisional_rows

#: Rows per operator table returned by a step; the counts always cover everything.
ROW_CAP = 200
_DUE_SOON = frozenset({Status.DUE_SOON, Status.AT_RISK})


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What one provider's sync fetched and stored."""

    provider_id: str
    fetched: int = 0
    stored: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_rows: tuple[RejectedRow, ...] = ()


@dataclass(frozen=True, slots=True)
class EvaluationSummary:
    """One provider's deadlines on one day: counts by status and the rows that matter."""

    provider_id: str
    evaluated_on: str
    by_status: dict[str, int]
    breached_total: int
    due_soon_total: int
    breached: tuple[DeadlineRow, ...] = ()
    due_soon: tuple[DeadlineRow, ...] = ()
    provisional: tuple[ProvisionalRow, ...] = ()
    selected: tuple[DeadlineRow, ...] = ()  # every deadline of the asked case (ad-hoc)
    history_rows: int = 0  # new deadline-history rows written
    cases_evaluated: int = 0  # cases the engine ran on (incremental: only what could change)
    complete: bool = True  # every open case evaluated (else only what could have changed)


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """One provider's scheduled check: its sync, then its evaluation."""

    sync: SyncSummary
    evaluation: EvaluationSummary


@dataclass(frozen=True, slots=True)
class NotifySummary:
    """What a notification run delivered."""

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    pending: int = 0
    by_language: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _top(
    session: Session, provider_id: str, statuses: frozenset[Status], today: date
) -> list[Deadline]:
    """The first :data:`ROW_CAP` current rows in ``statuses`` by due date, with days left."""
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    query = (
        select(*(table.c[name] for name in DEADLINE_COLUMNS))
        .where(
            table.c.provider_id == provider_id,
            table.c.is_current,
            table.c.status.in_(sorted(s.value for s in statuses)),
        )
        .order_by(func.coalesce(table.c.due_on, today), table.c.subject, table.c.rule)
        .limit(ROW_CAP)
    )
    found = [from_columns(row).deadline for row in session.execute(query)]
    return [
        replace(d, days_left=None if d.due_on is None else (d.due_on - today).days) for d in found
    ]


def summarize_stored(
    *,
    session: Session,
    provider_id: str,
    today: date,
    overrides: dict[str, float | int | bool | None] | None = None,
    history_rows: int = 0,
    cases_evaluated: int = 0,
    complete: bool = True,
) -> EvaluationSummary:
    """:func:`summarize` of the provider's stored current deadlines (counted in SQL)."""
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    counted = (
        select(table.c.status, table.c.pack_id, func.count())
        .where(table.c.provider_id == provider_id, table.c.is_current)
        .group_by(table.c.status, table.c.pack_id)
    )
    by_status: Counter[str] = Counter()
    packs: set[str] = set()
    for status, pack_id, n in session.execute(counted):
        by_status[str(status)] += int(n)
        if pack_id:
            packs.add(str(pack_id))
    return EvaluationSummary(
        provider_id=provider_id,
        evaluated_on=today.isoformat(),
        by_status=dict(sorted(by_status.items())),
        breached_total=sum(by_status[s.value] for s in BREACH_STATUSES),
        due_soon_total=sum(by_status[s.value] for s in _DUE_SOON),
        breached=tuple(
            deadline_row(provider_id, d) for d in _top(session, provider_id, BREACH_STATUSES, today)
        ),
        due_soon=tuple(
            deadline_row(provider_id, d) for d in _top(session, provider_id, _DUE_SOON, today)
        ),
        provisional=provisional_rows(packs, overrides or {}, provider_id),
        history_rows=history_rows,
        cases_evaluated=cases_evaluated,
        complete=complete,
    )


def summarize(
    provider_id: str,
    today: date,
    deadlines: Sequence[Deadline],
    *,
    overrides: dict[str, float | int | bool | None] | None = None,
    history_rows: int = 0,
    explain: bool = False,
) -> EvaluationSummary:
    """Counts by status, the breached and due-soon rows (capped) and provisional params."""
    by_status = Counter(d.status.value for d in deadlines)
    breached = [d for d in deadlines if d.status in BREACH_STATUSES]
    due_soon = [d for d in deadlines if d.status in _DUE_SOON]
    breached.sort(key=lambda d: (d.due_on or today, d.subject, d.rule))
    due_soon.sort(key=lambda d: (d.due_on or today, d.subject, d.rule))
    return EvaluationSummary(
        provider_id=provider_id,
        evaluated_on=today.isoformat(),
        by_status=dict(sorted(by_status.items())),
        breached_total=len(breached),
        due_soon_total=len(due_soon),
        breached=tuple(deadline_row(provider_id, d, explain=explain) for d in breached[:ROW_CAP]),
        due_soon=tuple(deadline_row(provider_id, d, explain=explain) for d in due_soon[:ROW_CAP]),
        provisional=provisional_rows(
            {d.pack_id for d in deadlines if d.pack_id}, overrides or {}, provider_id
        ),
        history_rows=history_rows,
        cases_evaluated=len({d.subject for d in deadlines if d.subject_kind == "case"}),
    )
