"""Where each provider's incremental evaluation stands, and when cases need a recheck.

- ``evaluation_state``  one row per provider: the day of its last stored evaluation, the
                        key of everything besides the cases that due dates depend on
                        (rule code and packs, overrides, staff list, holidays), and the
                        greatest ``last_changed_at`` of the cases it had read
- ``case_recheck``      per case, the first later day an unchanged case must be
                        evaluated again because a status moves with the date
                        (``rules.recheck``); no row: never, until the case changes

With these, a run evaluates only the cases changed since the last evaluation, the ones
whose recheck day has come and the ones closed since; a different key means a full
evaluation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col

from models.alerting import DeadlineRecord, QuietDeadlineSet
from models.db import UTCDateTime
from models.provider_data import Case

_CHUNK = 500  # refs per IN list


class EvaluationState(SQLModel, table=True):
    """A provider's last stored evaluation."""

    __tablename__ = "evaluation_state"

    provider_id: str = Field(primary_key=True, max_length=64)
    engine_key: str = Field(max_length=64)
    evaluated_on: date
    cases_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CaseRecheck(SQLModel, table=True):
    """The day an unchanged case must be evaluated again."""

    __tablename__ = "case_recheck"
    __table_args__ = (Index("ix_case_recheck_due", "provider_id", "recheck_on"),)

    provider_id: str = Field(primary_key=True, max_length=64)
    case_ref: str = Field(primary_key=True, max_length=64)
    recheck_on: date


def get_state(*, session: Session, provider_id: str) -> EvaluationState | None:
    """The provider's last stored evaluation, or None before the first one."""
    table = EvaluationState.__table__  # type: ignore[attr-defined]
    query = select(table.c.engine_key, table.c.evaluated_on, table.c.cases_seen_at).where(
        table.c.provider_id == provider_id
    )
    row = session.execute(query).first()
    if row is None:
        return None
    engine_key, evaluated_on, seen_at = row
    return EvaluationState(
        provider_id=provider_id,
        engine_key=engine_key,
        evaluated_on=evaluated_on,
        cases_seen_at=seen_at,
    )


def save_state(
    *,
    session: Session,
    provider_id: str,
    engine_key: str,
    evaluated_on: date,
    cases_seen_at: datetime | None,
) -> None:
    """Record the evaluation just stored (insert or replace the provider's row)."""
    table = EvaluationState.__table__  # type: ignore[attr-defined]
    values = {
        "provider_id": provider_id,
        "engine_key": engine_key,
        "evaluated_on": evaluated_on,
        "cases_seen_at": cases_seen_at,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["provider_id"],
            set_={name: statement.excluded[name] for name in values if name != "provider_id"},
        )
    )


def cases_seen_at(*, session: Session, provider_id: str) -> datetime | None:
    """The greatest ``last_changed_at`` among the provider's stored cases."""
    query = select(func.max(col(Case.last_changed_at))).where(col(Case.provider_id) == provider_id)
    value: datetime | None = session.execute(query).scalar()
    return value


def open_case_refs(*, session: Session, provider_id: str, today: date) -> set[str]:
    """The provider's stored cases not closed on ``today``."""
    query = select(col(Case.case_ref)).where(
        col(Case.provider_id) == provider_id,
        or_(col(Case.closed_on).is_(None), col(Case.closed_on) > today),
    )
    return set(session.scalars(query))


def current_case_refs(*, session: Session, provider_id: str) -> set[str]:
    """Cases that have current deadlines (a complete evaluation retires the closed ones)."""
    refs: set[str] = set()
    for table in (DeadlineRecord.__table__, QuietDeadlineSet.__table__):  # type: ignore[attr-defined]
        query = select(table.c.subject).where(
            table.c.provider_id == provider_id, table.c.is_current, table.c.subject_kind == "case"
        )
        refs.update(session.scalars(query.distinct()))
    return refs


def refs_to_evaluate(
    *, session: Session, provider_id: str, since: datetime | None, after_on: date, today: date
) -> set[str]:
    """Cases changed after ``since``, due for a recheck by ``today`` or closed after ``after_on``.

    The cases an incremental evaluation must look at; every other one is unchanged.
    """
    case = Case.__table__  # type: ignore[attr-defined]
    recheck = CaseRecheck.__table__  # type: ignore[attr-defined]
    mine = case.c.provider_id == provider_id
    refs: set[str] = set()
    if since is not None:
        refs.update(
            session.scalars(select(case.c.case_ref).where(mine, case.c.last_changed_at > since))
        )
    closed = (case.c.closed_on > after_on) & (case.c.closed_on <= today)
    refs.update(session.scalars(select(case.c.case_ref).where(mine, closed)))
    due = (recheck.c.provider_id == provider_id) & (recheck.c.recheck_on <= today)
    refs.update(session.scalars(select(recheck.c.case_ref).where(due)))
    return refs


def store_rechecks(
    *,
    session: Session,
    provider_id: str,
    rechecks: Mapping[str, date | None],
    scope: Collection[str] | None,
) -> int:
    """Replace the recheck days of the cases in ``scope`` (None: every case); rows written."""
    table = CaseRecheck.__table__  # type: ignore[attr-defined]
    mine = table.c.provider_id == provider_id
    if scope is None:
        session.execute(delete(table).where(mine))
    else:
        refs = sorted(scope)
        for start in range(0, len(refs), _CHUNK):
            session.execute(
                delete(table).where(mine, table.c.case_ref.in_(refs[start : start + _CHUNK]))
            )
    rows: list[dict[str, Any]] = [
        {"provider_id": provider_id, "case_ref": ref, "recheck_on": on}
        for ref, on in rechecks.items()
        if on is not None
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).on_conflict_do_update(
        index_elements=["provider_id", "case_ref"],
        set_={"recheck_on": insert(table).excluded.recheck_on},
    )
    for start in range(0, len(rows), 5 * _CHUNK):
        session.execute(statement, rows[start : start + 5 * _CHUNK])
    return len(rows)
