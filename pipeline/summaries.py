"""What the steps return: small plain summaries, never whole datasets, never personal data.

Counts cover everything; the operator tables hold at most :data:`ROW_CAP` rows (case
references, rule ids, dates and the engine's reasons only). A stored provider's
summary comes from the kept counts (:func:`summarize_stored`), a run's most pressing
rows across providers from one query each (:func:`overview`), an in-memory
evaluation's summary from Python (:func:`summarize`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session

from models.alerting import DeadlineRecord
from models.deadlines import DEADLINE_COLUMNS, from_columns, status_counts
from notifications.counts import AlertPlanSummary
from pipeline.rows import DeadlineRow, ProvisionalRow, RejectedRow, deadline_row, provisional_rows
from rules.deadline import Deadline, Status

#: Rows per operator table returned by a step; the counts always cover everything.
ROW_CAP = 200
_DUE_SOON = frozenset({Status.DUE_SOON, Status.AT_RISK})
#: Breached means breached now; a deadline met after its due date is ``met_late``, kept apart.
_BREACHED = frozenset({Status.BREACHED})
_MET_LATE = frozenset({Status.MET_LATE})


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
    breached_total: int  # breached now (met late not included)
    due_soon_total: int
    breached: tuple[DeadlineRow, ...] = ()  # the most recently breached first
    due_soon: tuple[DeadlineRow, ...] = ()  # the nearest first
    met_late_total: int = 0
    provisional: tuple[ProvisionalRow, ...] = ()
    selected: tuple[DeadlineRow, ...] = ()  # every deadline of the asked case (ad-hoc)
    history_rows: int = 0  # new deadline-history rows written
    cases_evaluated: int = 0  # cases the engine ran on (incremental: only what could change)
    complete: bool = True  # every open case evaluated (else only what could have changed)


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """One provider's scheduled check: its sync, its evaluation, then (when the check is
    given the run's notification clock) its alerts planned; None: left to the notify."""

    sync: SyncSummary
    evaluation: EvaluationSummary
    alerts: AlertPlanSummary | None = None


@dataclass(frozen=True, slots=True)
class NotifySummary:
    """What a notification run delivered."""

    sent: int = 0  # alert items delivered
    failed: int = 0  # alert items whose delivery failed
    suppressed: int = 0
    pending: int = 0
    by_language: dict[str, int] = field(default_factory=dict)  # items sent per language
    dry_run: bool = False
    messages: int = 0  # messages (digests) delivered: what a mailbox counts
    messages_failed: int = 0
    by_provider: dict[str, tuple[int, int]] = field(default_factory=dict)  # items sent, failed

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _top(
    session: Session,
    provider_ids: Sequence[str],
    statuses: frozenset[Status],
    today: date,
    limit: int,
    *,
    newest: bool = False,
) -> list[tuple[str, Deadline]]:
    """At most ``limit`` current rows in ``statuses`` per provider, with days left: the
    nearest due date first, or with ``newest`` the latest first (the freshest breaches;
    rows without a date last)."""
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    undated = date.min if newest else today
    due = func.coalesce(table.c.due_on, undated)
    order = (due.desc() if newest else due, table.c.subject, table.c.rule)
    rank = func.row_number().over(partition_by=table.c.provider_id, order_by=order)
    ranked = (
        select(*(table.c[name] for name in DEADLINE_COLUMNS), rank.label("rank"))
        .where(
            table.c.is_current,
            table.c.status.in_(sorted(s.value for s in statuses)),
            table.c.provider_id.in_(sorted(provider_ids)),
        )
        .subquery()
    )
    columns = [ranked.c[name] for name in DEADLINE_COLUMNS]
    ranked_due = func.coalesce(ranked.c.due_on, undated)
    query = (
        select(*columns)
        .where(ranked.c.rank <= limit)
        .order_by(
            ranked_due.desc() if newest else ranked_due,
            ranked.c.provider_id,
            ranked.c.subject,
            ranked.c.rule,
        )
    )
    found = [from_columns(row) for row in session.execute(query).all()]
    return [(item.provider_id, _as_of(item.deadline, today)) for item in found]


def _as_of(deadline: Deadline, today: date) -> Deadline:
    """The stored deadline with its days left counted from ``today``."""
    due = deadline.due_on
    return deadline._replace(days_left=None if due is None else (due - today).days)


def summarize_stored(
    *,
    session: Session,
    provider_id: str,
    today: date,
    overrides: dict[str, float | int | bool | None] | None = None,
    history_rows: int = 0,
    cases_evaluated: int = 0,
    complete: bool = True,
    rows: bool = True,
) -> EvaluationSummary:
    """:func:`summarize` of the provider's stored current deadlines.

    Counts come from the kept counts (``deadline_status_count``: a dozen rows), the
    breached and due-soon rows (``rows``) from one ordered query each. The scheduled
    check leaves the rows out: its run's overview (:func:`overview`) lists the most
    pressing ones across every provider at once.
    """
    counted = status_counts(session=session, provider_ids=[provider_id]).get(provider_id, {})
    by_status: Counter[str] = Counter()
    for (status, _pack), n in counted.items():
        by_status[status] += n
    packs = {pack for _status, pack in counted if pack}
    breached: list[tuple[str, Deadline]] = []
    due_soon: list[tuple[str, Deadline]] = []
    if rows:
        breached = _top(session, [provider_id], _BREACHED, today, ROW_CAP, newest=True)
        due_soon = _top(session, [provider_id], _DUE_SOON, today, ROW_CAP)
    return EvaluationSummary(
        provider_id=provider_id,
        evaluated_on=today.isoformat(),
        by_status=dict(sorted(by_status.items())),
        breached_total=by_status[Status.BREACHED.value],
        due_soon_total=sum(by_status[s.value] for s in _DUE_SOON),
        met_late_total=by_status[Status.MET_LATE.value],
        breached=tuple(deadline_row(pid, d) for pid, d in breached),
        due_soon=tuple(deadline_row(pid, d) for pid, d in due_soon),
        provisional=provisional_rows(packs, overrides or {}, provider_id),
        history_rows=history_rows,
        cases_evaluated=cases_evaluated,
        complete=complete,
    )


@dataclass(frozen=True, slots=True)
class Overview:
    """The most pressing stored deadlines of a run's providers, found in one query each."""

    evaluated_on: str
    breached: tuple[DeadlineRow, ...] = ()  # breached now, the most recent first
    due_soon: tuple[DeadlineRow, ...] = ()  # the nearest first
    met_late: tuple[DeadlineRow, ...] = ()  # met after the due date, the most recent first
    per_provider: int = 0  # the cap each list had per provider


def overview(*, session: Session, provider_ids: Sequence[str], today: date, limit: int) -> Overview:
    """Per provider, at most ``limit`` rows of each list: the most recent breaches, the
    nearest due-soon deadlines, the most recent met-late ones (one query each)."""

    def rows(statuses: frozenset[Status], *, newest: bool) -> tuple[DeadlineRow, ...]:
        found = _top(session, provider_ids, statuses, today, limit, newest=newest)
        return tuple(deadline_row(pid, d) for pid, d in found)

    return Overview(
        evaluated_on=today.isoformat(),
        breached=rows(_BREACHED, newest=True),
        due_soon=rows(_DUE_SOON, newest=False),
        met_late=rows(_MET_LATE, newest=True),
        per_provider=limit,
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
    breached = [d for d in deadlines if d.status in _BREACHED]
    due_soon = [d for d in deadlines if d.status in _DUE_SOON]
    breached.sort(key=lambda d: (-(d.due_on or date.min).toordinal(), d.subject, d.rule))
    due_soon.sort(key=lambda d: (d.due_on or today, d.subject, d.rule))
    return EvaluationSummary(
        provider_id=provider_id,
        evaluated_on=today.isoformat(),
        by_status=dict(sorted(by_status.items())),
        breached_total=len(breached),
        due_soon_total=len(due_soon),
        met_late_total=by_status[Status.MET_LATE.value],
        breached=tuple(deadline_row(provider_id, d, explain=explain) for d in breached[:ROW_CAP]),
        due_soon=tuple(deadline_row(provider_id, d, explain=explain) for d in due_soon[:ROW_CAP]),
        provisional=provisional_rows(
            {d.pack_id for d in deadlines if d.pack_id}, overrides or {}, provider_id
        ),
        history_rows=history_rows,
        cases_evaluated=len({d.subject for d in deadlines if d.subject_kind == "case"}),
    )
