"""Quiet deadlines packed one row per subject: the same history, reads and counts as rows."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from alembic import command
from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session

from models.alerting import DeadlineCount, DeadlineRecord, QuietDeadlineSet
from models.db import make_engine, session_scope
from models.deadlines import (
    StoreDeadlinesResult,
    deadline_history,
    fingerprint,
    load_current_deadlines,
    status_counts,
    store_deadlines,
)
from models.evaluation import current_case_refs
from models.schema import alembic_config, upgrade
from rules.deadline import Deadline, Status

TODAY = date(2026, 3, 10)
ROWS = DeadlineRecord.__table__  # type: ignore[attr-defined]
SETS = QuietDeadlineSet.__table__  # type: ignore[attr-defined]
COUNTS = DeadlineCount.__table__  # type: ignore[attr-defined]


def d(subject: str, rule: str, status: Status, days: int | None = None, **kw: object) -> Deadline:
    due = TODAY + timedelta(days=days) if days is not None else None
    values: dict[str, object] = {
        "subject_kind": "case",
        "subject": subject,
        "rule": rule,
        "status": status,
        "due_on": due,
        "days_left": days,
        "explanation": (f"{rule} for {subject}", "rule pack kela-tk-tv-2025"),
        "pack_id": "kela-tk-tv-2025",
    }
    values.update(kw)
    return Deadline(**values)  # type: ignore[arg-type]


def _store(
    engine: Engine, deadlines: list[Deadline], day: int, **kw: object
) -> StoreDeadlinesResult:
    with session_scope(engine) as session:
        return store_deadlines(
            session=session,
            provider_id="p1",
            deadlines=deadlines,
            evaluated_on=TODAY + timedelta(days=day),
            **kw,  # type: ignore[arg-type]
        )


def _count(session: Session, table: object, *where: object) -> int:
    return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _current(engine: Engine) -> dict[tuple[str, str], Deadline]:
    with session_scope(engine) as session:
        found = load_current_deadlines(session=session, provider_id="p1")
    keys = [(item.deadline.subject, item.deadline.rule) for item in found]
    assert len(keys) == len(set(keys)), "an identity is current twice"
    return {(item.deadline.subject, item.deadline.rule): item.deadline for item in found}


def _counts_match(engine: Engine) -> None:
    expected = Counter(
        (deadline.status.value, deadline.pack_id) for deadline in _current(engine).values()
    )
    with session_scope(engine) as session:
        kept = status_counts(session=session).get("p1", {})
    assert kept == dict(expected)


def test_quiet_deadlines_are_one_row_a_subject_and_read_back_whole(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    first = [
        d("TK-1", "START-2W", Status.DUE_SOON, 3),
        d("TK-1", "DAY-QUOTA", Status.OK, count=3, limit=45),
        d("TK-1", "FEEDBACK-DUE", Status.WAITING),
        d("TK-1", "TV-PAID-WORK", Status.NOT_APPLICABLE),
        d("TK-2", "TK-MEETINGS-MAX", Status.UNCONFIGURED, details=("disabled",)),
    ]
    result = _store(engine, first, 0)
    assert (result.new, result.changed, result.unchanged) == (5, 0, 0)
    with session_scope(engine) as session:
        assert _count(session, ROWS) == 1  # START-2W alone
        assert _count(session, SETS) == 2  # TK-1's three quiet deadlines, TK-2's one
        assert current_case_refs(session=session, provider_id="p1") == {"TK-1", "TK-2"}
        quiet_only = load_current_deadlines(session=session, statuses={Status.OK})
        loud_only = load_current_deadlines(session=session, statuses={Status.DUE_SOON})
    assert [item.deadline.rule for item in quiet_only] == ["DAY-QUOTA"]
    assert [item.deadline.rule for item in loud_only] == ["START-2W"]
    current = _current(engine)
    assert current == {(x.subject, x.rule): x for x in first}  # every field back as given
    _counts_match(engine)

    again = _store(engine, first, 1)
    assert (again.new, again.changed, again.unchanged) == (0, 0, 5)
    with session_scope(engine) as session:
        assert (_count(session, ROWS), _count(session, SETS)) == (1, 2)  # nothing rewritten
    engine.dispose()


def test_a_deadline_moving_between_quiet_and_alerting_keeps_one_history(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    other = d("TK-1", "FEEDBACK-DUE", Status.WAITING)
    days = [
        [d("TK-1", "DAY-QUOTA", Status.OK, count=30, limit=45), other],
        [d("TK-1", "DAY-QUOTA", Status.DUE_SOON, count=41, limit=45), other],
        [d("TK-1", "DAY-QUOTA", Status.OK, count=30, limit=45), other],  # a day corrected
        [d("TK-1", "DAY-QUOTA", Status.OK, count=31, limit=45), other],
    ]
    results = [
        _store(engine, deadlines, day, retire_missing=True) for day, deadlines in enumerate(days)
    ]
    assert [(r.new, r.changed, r.unchanged) for r in results] == [
        (2, 0, 0),
        (0, 1, 1),
        (0, 1, 1),
        (0, 1, 1),
    ]
    with session_scope(engine) as session:
        history = deadline_history(
            session=session, provider_id="p1", subject="TK-1", rule="DAY-QUOTA"
        )
        assert _count(session, SETS, SETS.c.is_current) == 1
        assert _count(session, ROWS, ROWS.c.is_current) == 0
    assert [(h.status, h.count, h.is_current) for h in history] == [
        ("ok", 30, False),
        ("due_soon", 41, False),
        ("ok", 30, False),
        ("ok", 31, True),
    ]
    assert [h.evaluated_on for h in history] == [TODAY + timedelta(days=n) for n in range(4)]
    assert [h.superseded_on for h in history[:3]] == [TODAY + timedelta(days=n) for n in (1, 2, 3)]
    assert [h.fingerprint for h in history] == [fingerprint(day[0]) for day in days]
    _counts_match(engine)
    engine.dispose()


def test_missing_quiet_deadlines_retire_only_when_asked(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    both = [d("TK-1", "DAY-QUOTA", Status.OK), d("TK-1", "MEALS-PT8", Status.OK)]
    _store(engine, both, 0)
    kept = _store(engine, [d("TK-1", "DAY-QUOTA", Status.OK, 5)], 1)  # an evaluation of one rule
    assert (kept.changed, kept.retired) == (1, 0)
    assert set(_current(engine)) == {("TK-1", "DAY-QUOTA"), ("TK-1", "MEALS-PT8")}
    assert _current(engine)["TK-1", "DAY-QUOTA"].due_on == TODAY + timedelta(days=5)
    _counts_match(engine)

    gone = _store(engine, [d("TK-1", "DAY-QUOTA", Status.OK, 5)], 2, retire_missing=True)
    assert (gone.unchanged, gone.retired) == (1, 1)
    assert set(_current(engine)) == {("TK-1", "DAY-QUOTA")}
    _counts_match(engine)

    closed = _store(engine, [], 3, retire_missing=True)  # the case closed: nothing current
    assert closed.retired == 1
    assert _current(engine) == {}
    with session_scope(engine) as session:
        assert current_case_refs(session=session, provider_id="p1") == set()
    _counts_match(engine)
    engine.dispose()


def test_quiet_rows_stored_before_the_sets_move_into_one_at_the_next_store(
    database_url: str,
) -> None:
    """A database upgraded from 0008 keeps its quiet single rows current until the subject
    is stored again; then they retire into its set (never current twice)."""
    engine = make_engine(database_url)
    upgrade(engine)
    legacy = [d("TK-1", "DAY-QUOTA", Status.OK), d("TK-1", "START-2W", Status.MET, -1)]
    with session_scope(engine) as session:
        store_deadlines(session=session, provider_id="p1", deadlines=legacy[1:], evaluated_on=TODAY)
        session.execute(insert(ROWS).values(_legacy_row(legacy[0])))
        session.execute(
            insert(COUNTS).values(provider_id="p1", status="ok", pack_id="kela-tk-tv-2025", n=1)
        )
    assert set(_current(engine)) == {("TK-1", "DAY-QUOTA"), ("TK-1", "START-2W")}
    _counts_match(engine)
    result = _store(engine, legacy, 1)  # no retire_missing: the set replaces the row anyway
    assert (result.changed, result.unchanged) == (1, 1)
    with session_scope(engine) as session:
        assert _count(session, ROWS, ROWS.c.is_current) == 1  # START-2W
        assert _count(session, SETS, SETS.c.is_current) == 1
    assert set(_current(engine)) == {("TK-1", "DAY-QUOTA"), ("TK-1", "START-2W")}
    _counts_match(engine)
    engine.dispose()


def test_downgrading_returns_every_set_deadline_to_single_rows(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    _store(
        engine, [d("TK-1", "DAY-QUOTA", Status.OK, count=1), d("TK-1", "MEALS-PT8", Status.OK)], 0
    )
    _store(
        engine, [d("TK-1", "DAY-QUOTA", Status.OK, count=2), d("TK-1", "MEALS-PT8", Status.OK)], 1
    )
    before = _current(engine)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0008")
    with session_scope(engine) as session:
        rows = session.execute(select(ROWS).order_by(ROWS.c.id)).mappings().all()
    assert len(rows) == 4  # two sets of two: the history stays
    current = [row for row in rows if row["is_current"]]
    assert {row["rule"]: row["count"] for row in current} == {"DAY-QUOTA": 2, "MEALS-PT8": None}
    assert {row["rule"]: row["fingerprint"] for row in current} == {
        rule: fingerprint(deadline) for (_, rule), deadline in before.items()
    }
    upgrade(engine)  # and back: the rows read as before
    assert _current(engine) == before
    engine.dispose()


def _legacy_row(x: Deadline) -> dict[str, object]:
    """A quiet deadline as the code before revision 0009 stored it: a single row."""
    return {
        "provider_id": "p1", "subject_kind": x.subject_kind, "subject": x.subject,
        "rule": x.rule, "status": x.status.value, "due_on": x.due_on, "event_on": None,
        "days_left": x.days_left, "details": "[]",
        "explanation": json.dumps(list(x.explanation)), "pack_id": x.pack_id,
        "provisional": "[]", "escalate": False, "fingerprint": fingerprint(x),
        "evaluated_on": TODAY, "is_current": True, "planned": True,
        "created_at": datetime.combine(TODAY, time(), tzinfo=UTC),
    }  # fmt: skip
