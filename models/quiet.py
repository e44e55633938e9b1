"""Quiet deadlines, packed: one ``quiet_deadline_set`` row per subject.

A quiet deadline (:data:`notifications.policy.QUIET_STATUSES`: ok, waiting, not
applicable, unconfigured) never alerts, and most never change. A subject's quiet
deadlines are stored together as a :class:`QuietSet`: one JSON list per deadline, sorted
by rule, and one fingerprint for the set. :func:`models.deadlines.store_deadlines`
compares and writes sets next to the single rows of the other statuses; the readers
there give back both as deadlines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import orjson
from sqlalchemy import select
from sqlmodel import Session

from models.alerting import QuietDeadlineSet
from rules.deadline import STATUS_OF, Deadline, Status, SubjectKind

TABLE = QuietDeadlineSet.__table__  # type: ignore[attr-defined]
_CHUNK = 500  # subjects or ids per IN list
Subject = tuple[str, str]  # subject_kind, subject


def change_data(d: Deadline) -> tuple[Any, ...]:
    """The fields whose change makes a new history row (``deadlines.fingerprint`` hashes them)."""
    return (
        d.status,  # a StrEnum: orjson writes its value
        d.due_on,
        d.event_on,
        d.count,
        d.limit,
        d.details,
        d.coach_id,
        d.office_id,
        d.escalate,
        d.link,
    )


@dataclass(frozen=True, slots=True)
class QuietSet:
    """One subject's quiet deadlines, ready to store: packed and fingerprinted."""

    subject_kind: str
    subject: str
    deadlines: tuple[Deadline, ...]  # by rule
    fingerprint: str
    packed: str  # the JSON stored

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(d.rule for d in self.deadlines)


def pack(subject_kind: str, subject: str, deadlines: Iterable[Deadline]) -> QuietSet:
    """The set of these deadlines (one per rule, of one subject). Each is stored as the
    list ``[rule, status, due_on, event_on, days_left, details, explanation, pack_id,
    provisional, office_id, coach_id, link, language, escalate, count, limit]``."""
    ordered = tuple(sorted(deadlines, key=lambda d: d.rule))
    changes = orjson.dumps([(d.rule, *change_data(d)) for d in ordered])
    packed = orjson.dumps([
        (
            d.rule, d.status, d.due_on, d.event_on, d.days_left, d.details, d.explanation,
            d.pack_id, d.provisional, d.office_id, d.coach_id, d.link, d.language, d.escalate,
            d.count, d.limit,
        )
        for d in ordered
    ])  # fmt: skip
    return QuietSet(
        subject_kind, subject, ordered, hashlib.sha256(changes).hexdigest(), packed.decode()
    )


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def unpack(subject_kind: str, subject: str, packed: str) -> list[Deadline]:
    """The deadlines of a stored set."""
    kind = cast("SubjectKind", subject_kind)
    found = []
    for item in orjson.loads(packed):
        (rule, status, due_on, event_on, days_left, details, explanation, pack_id,
         provisional, office, coach, link, language, escalate, count, limit) = item  # fmt: skip
        found.append(
            Deadline(
                kind,
                subject,
                rule,
                STATUS_OF[status],
                _day(due_on),
                _day(event_on),
                days_left,
                tuple(details),
                tuple(explanation),
                pack_id,
                tuple(provisional),
                office,
                coach,
                link,
                language,
                bool(escalate),
                count,
                limit,
            )
        )
    return found


def read_sets(session: Session, ids: Collection[int]) -> dict[Subject, dict[str, Deadline]]:
    """The deadlines of these stored sets, by subject and rule."""
    chosen = sorted(ids)
    found: dict[Subject, dict[str, Deadline]] = {}
    columns = (TABLE.c.subject_kind, TABLE.c.subject, TABLE.c.deadlines)
    for start in range(0, len(chosen), _CHUNK):
        query = select(*columns).where(TABLE.c.id.in_(chosen[start : start + _CHUNK]))
        for kind, subject, packed in session.execute(query):
            found[kind, subject] = {d.rule: d for d in unpack(kind, subject, packed)}
    return found


def current_deadlines(
    session: Session, *, provider_id: str | None, statuses: Collection[Status] | None
) -> Iterator[tuple[str, Deadline]]:
    """(provider, deadline) of every current set's deadlines in ``statuses`` (None: all)."""
    query = select(TABLE.c.provider_id, TABLE.c.subject_kind, TABLE.c.subject, TABLE.c.deadlines)
    query = query.where(TABLE.c.is_current)
    if provider_id is not None:
        query = query.where(TABLE.c.provider_id == provider_id)
    for pid, kind, subject, packed in session.execute(
        query.order_by(TABLE.c.provider_id, TABLE.c.id)
    ):
        for deadline in unpack(kind, subject, packed):
            if statuses is None or deadline.status in statuses:
                yield pid, deadline


def history(
    session: Session, *, provider_id: str, subject: str, rule: str
) -> list[tuple[Mapping[str, Any], Deadline]]:
    """Every stored set of the subject that holds ``rule``: (the set's row, its deadline)."""
    query = select(TABLE).where(TABLE.c.provider_id == provider_id, TABLE.c.subject == subject)
    found: list[tuple[Mapping[str, Any], Deadline]] = []
    for row in session.execute(query.order_by(TABLE.c.id)).mappings():
        stored: Mapping[str, Any] = dict(row)
        found.extend(
            (stored, d)
            for d in unpack(row["subject_kind"], subject, row["deadlines"])
            if d.rule == rule
        )
    return found
