"""Storing evaluated deadlines with their history, and reading the current ones back.

A deadline's *identity* is (provider, subject kind, subject, rule). Its *fingerprint*
covers what an alert or a report depends on (status, due date, event date, count and
limit, details, routing context). :func:`store_deadlines` compares fingerprints in bulk
against the current rows (one query per provider), inserts a new row for a new or changed
deadline, marks the replaced row not current, and leaves an unchanged one untouched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlmodel import Session, col

from models.alerting import DeadlineRecord
from notifications.policy import ProviderDeadline
from rules.deadline import Deadline, Status, SubjectKind

_CHUNK = 500
Identity = tuple[str, str, str]  # subject_kind, subject, rule


@dataclass(frozen=True, slots=True)
class StoreDeadlinesResult:
    new: int
    changed: int
    unchanged: int
    retired: int = 0  # current rows absent from this evaluation (retire_missing=True)


def fingerprint(deadline: Deadline) -> str:
    """SHA-256 of the fields whose change makes a new history row."""
    data = [
        deadline.status.value,
        deadline.due_on.isoformat() if deadline.due_on else None,
        deadline.event_on.isoformat() if deadline.event_on else None,
        deadline.count,
        deadline.limit,
        list(deadline.details),
        deadline.coach_id,
        deadline.office_id,
        deadline.escalate,
        deadline.link,
    ]
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()


def _row(
    provider_id: str, d: Deadline, fp: str, evaluated_on: date, at: datetime
) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "subject_kind": d.subject_kind,
        "subject": d.subject,
        "rule": d.rule,
        "status": d.status.value,
        "due_on": d.due_on,
        "event_on": d.event_on,
        "days_left": d.days_left,
        "details": json.dumps(list(d.details), ensure_ascii=False),
        "explanation": json.dumps(list(d.explanation), ensure_ascii=False),
        "pack_id": d.pack_id,
        "provisional": json.dumps(list(d.provisional), ensure_ascii=False),
        "office_id": d.office_id,
        "coach_id": d.coach_id,
        "link": d.link,
        "language": d.language,
        "escalate": d.escalate,
        "count": d.count,
        "limit_value": d.limit,
        "fingerprint": fp,
        "evaluated_on": evaluated_on,
        "is_current": True,
        "superseded_on": None,
        "created_at": at,
    }


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def store_deadlines(
    *,
    session: Session,
    provider_id: str,
    deadlines: Iterable[Deadline],
    evaluated_on: date,
    recorded_at: datetime | None = None,
    retire_missing: bool = False,
) -> StoreDeadlinesResult:
    """Keep history: new/changed deadlines get a new row, unchanged ones are not rewritten.

    With ``retire_missing`` the provider's current rows absent from ``deadlines`` are
    marked not current (use it only with a complete evaluation of the provider).
    """
    at = recorded_at or datetime.combine(evaluated_on, time(), tzinfo=UTC)
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    current: dict[Identity, tuple[int, str]] = {
        (kind, subject, rule): (row_id, fp)
        for row_id, kind, subject, rule, fp in session.execute(
            select(
                table.c.id, table.c.subject_kind, table.c.subject, table.c.rule, table.c.fingerprint
            ).where(table.c.provider_id == provider_id, table.c.is_current.is_(True))
        )
    }
    latest: dict[Identity, Deadline] = {(d.subject_kind, d.subject, d.rule): d for d in deadlines}
    inserts: list[dict[str, Any]] = []
    retire: list[int] = []
    new = changed = unchanged = 0
    for identity, d in latest.items():
        fp = fingerprint(d)
        existing = current.get(identity)
        if existing is None:
            new += 1
        elif existing[1] == fp:
            unchanged += 1
            continue
        else:
            changed += 1
            retire.append(existing[0])
        inserts.append(_row(provider_id, d, fp, evaluated_on, at))
    missing = [row_id for identity, (row_id, _) in current.items() if identity not in latest]
    if retire_missing:
        retire += missing
    for chunk in _chunks(retire):
        session.execute(
            update(table)
            .where(table.c.id.in_(chunk))
            .values(is_current=False, superseded_on=evaluated_on)
        )
    for chunk in _chunks(inserts):
        session.execute(insert(table), list(chunk))
    session.flush()
    return StoreDeadlinesResult(
        new=new, changed=changed, unchanged=unchanged, retired=len(missing) if retire_missing else 0
    )


def to_deadline(row: DeadlineRecord) -> Deadline:
    """A stored row back as the engine's :class:`Deadline`."""
    return Deadline(
        subject_kind=cast("SubjectKind", row.subject_kind),
        subject=row.subject,
        rule=row.rule,
        status=Status(row.status),
        due_on=row.due_on,
        event_on=row.event_on,
        days_left=row.days_left,
        details=tuple(json.loads(row.details)),
        explanation=tuple(json.loads(row.explanation)),
        pack_id=row.pack_id,
        provisional=tuple(json.loads(row.provisional)),
        office_id=row.office_id,
        coach_id=row.coach_id,
        link=row.link,
        language=row.language,
        escalate=row.escalate,
        count=row.count,
        limit=row.limit_value,
    )


def load_current_deadlines(
    *, session: Session, provider_id: str | None = None
) -> list[ProviderDeadline]:
    """The current deadline of every identity (one provider, or all)."""
    query = select(DeadlineRecord).where(col(DeadlineRecord.is_current).is_(True))
    if provider_id is not None:
        query = query.where(col(DeadlineRecord.provider_id) == provider_id)
    query = query.order_by(col(DeadlineRecord.provider_id), col(DeadlineRecord.id))
    return [ProviderDeadline(r.provider_id, to_deadline(r)) for r in session.scalars(query)]


def deadline_history(
    *, session: Session, provider_id: str, subject: str, rule: str
) -> list[DeadlineRecord]:
    """Every stored row of one subject and rule, oldest first."""
    query = (
        select(DeadlineRecord)
        .where(
            col(DeadlineRecord.provider_id) == provider_id,
            col(DeadlineRecord.subject) == subject,
            col(DeadlineRecord.rule) == rule,
        )
        .order_by(col(DeadlineRecord.id))
    )
    return list(session.scalars(query))
