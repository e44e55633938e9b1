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
from functools import cache
from typing import Any

from sqlalchemy import CompoundSelect, Index, Insert, bindparam, delete, func, or_, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col

from models.alerting import DeadlineRecord, QuietDeadlineSet
from models.provider_data import Case
from models.types import UTCDateTime

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


_STATE = EvaluationState.__table__  # type: ignore[attr-defined]
_CASE = Case.__table__  # type: ignore[attr-defined]
_RECHECK = CaseRecheck.__table__  # type: ignore[attr-defined]
#: The reads and the write every provider's check makes, built once (bound parameters).
_GET_STATE = select(_STATE.c.engine_key, _STATE.c.evaluated_on, _STATE.c.cases_seen_at).where(
    _STATE.c.provider_id == bindparam("provider_id")
)
_SEEN_AT = select(func.max(_CASE.c.last_changed_at)).where(
    _CASE.c.provider_id == bindparam("provider_id")
)


def get_state(*, session: Session, provider_id: str) -> EvaluationState | None:
    """The provider's last stored evaluation, or None before the first one."""
    row = session.execute(_GET_STATE, {"provider_id": provider_id}).first()
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
    values = {
        "provider_id": provider_id,
        "engine_key": engine_key,
        "evaluated_on": evaluated_on,
        "cases_seen_at": cases_seen_at,
    }
    session.execute(_upsert_state(session.get_bind().dialect.name), values)


@cache
def _upsert_state(dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_STATE)
    names = ("engine_key", "evaluated_on", "cases_seen_at")
    return statement.on_conflict_do_update(
        index_elements=["provider_id"], set_={name: statement.excluded[name] for name in names}
    )


def cases_seen_at(*, session: Session, provider_id: str) -> datetime | None:
    """The greatest ``last_changed_at`` among the provider's stored cases."""
    value: datetime | None = session.execute(_SEEN_AT, {"provider_id": provider_id}).scalar()
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

    The cases an incremental evaluation must look at; every other one is unchanged. One
    statement (each of its parts on its own index).
    """
    params = {"provider_id": provider_id, "since": since, "after_on": after_on, "today": today}
    return set(session.scalars(_to_evaluate(since is not None), params))


@cache
def _to_evaluate(changed: bool) -> CompoundSelect[tuple[str]]:
    mine = _CASE.c.provider_id == bindparam("provider_id")
    closed = (_CASE.c.closed_on > bindparam("after_on")) & (_CASE.c.closed_on <= bindparam("today"))
    due = (_RECHECK.c.provider_id == bindparam("provider_id")) & (
        _RECHECK.c.recheck_on <= bindparam("today")
    )
    parts = [select(_CASE.c.case_ref).where(mine, _CASE.c.last_changed_at > bindparam("since"))]
    return union(
        *(parts if changed else []),
        select(_CASE.c.case_ref).where(mine, closed),
        select(_RECHECK.c.case_ref).where(due),
    )


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
