"""Storing evaluated deadlines with their history, and reading the current ones back.

A deadline's *identity* is (provider, subject kind, subject, rule). Its *fingerprint*
covers what an alert or a report depends on (status, due date, event date, count and
limit, details, routing context). :func:`store_deadlines` compares fingerprints in bulk
against the current rows (one query per provider), inserts a new row for a new or changed
deadline, marks the replaced row not current, and leaves an unchanged one untouched.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple, cast, get_args

import orjson
from sqlalchemy import Dialect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from models.alerting import Alert, DeadlineCount, DeadlineRecord
from models.db import bulk_insert, row_binder
from notifications.policy import ProviderDeadline, dedup_key, planned_when_stored
from rules.deadline import STATUS_OF, Deadline, Status, SubjectKind

_CHUNK = 500  # refs per IN list when reading a page's current rows
_IDS_CHUNK = 5000  # row ids per UPDATE (SQLite takes 32 766 parameters)
_KEYS_CHUNK = 5000  # dedup keys per IN list
#: Every subject kind but cases (audits, findings, coaches, the provider, offices).
_OTHER_KINDS = sorted(set(get_args(SubjectKind)) - {"case"})
#: PostgreSQL advisory lock namespace: one provider's deadlines are stored by one run at a time.
_DEADLINES_LOCK = 0x7A47_0002
Identity = tuple[str, str, str]  # subject_kind, subject, rule


@dataclass(frozen=True, slots=True)
class StoreDeadlinesResult:
    new: int
    changed: int
    unchanged: int
    retired: int = 0  # current rows absent from this evaluation (retire_missing=True)


def fingerprint(deadline: Deadline) -> str:
    """SHA-256 of the fields whose change makes a new history row."""
    data = (
        deadline.status,  # a StrEnum: orjson writes its value
        deadline.due_on,
        deadline.event_on,
        deadline.count,
        deadline.limit,
        deadline.details,
        deadline.coach_id,
        deadline.office_id,
        deadline.escalate,
        deadline.link,
    )
    return hashlib.sha256(orjson.dumps(data)).hexdigest()


#: The columns :func:`_row` fills, in its order (the rest are the same for every row).
_ROW_COLUMNS = (
    "subject_kind", "subject", "rule", "status", "due_on", "event_on", "days_left",
    "details", "explanation", "pack_id", "provisional", "office_id", "coach_id", "link",
    "language", "escalate", "count", "limit_value", "fingerprint", "planned",
)  # fmt: skip


def _json_list(values: tuple[str, ...]) -> str:
    return orjson.dumps(values).decode() if values else "[]"


def _row(d: Deadline, fp: str) -> tuple[Any, ...]:
    planned = planned_when_stored(d, breach_alerted=False)  # met rows: see store_deadlines
    return (
        d.subject_kind, d.subject, d.rule, d.status.value, d.due_on, d.event_on, d.days_left,
        _json_list(d.details), _json_list(d.explanation), d.pack_id, _json_list(d.provisional),
        d.office_id, d.coach_id, d.link, d.language, d.escalate, d.count, d.limit, fp, planned,
    )  # fmt: skip


class _Ready(NamedTuple):
    """One deadline made ready to store."""

    deadline: Deadline
    fingerprint: str
    status: str
    row: list[Any]  # the row's values in _ROW_COLUMNS order, bound for the driver


@dataclass(frozen=True, slots=True)
class PreparedDeadlines:
    """Deadlines made ready to store, by identity (the last one of an identity wins):
    fingerprints and row values bound for one driver (:func:`prepare_deadlines`).

    Made before the write transaction, so that the transaction only compares the
    fingerprints with the stored ones and writes: on SQLite every other writer waits.
    """

    dialect: Dialect | None = None  # the rows are bound for this dialect (None: no rows)
    items: Mapping[Identity, _Ready] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def only(self, subjects: Collection[str]) -> PreparedDeadlines:
        """The deadlines of these subjects alone."""
        kept = {key: ready for key, ready in self.items.items() if key[1] in subjects}
        return self if len(kept) == len(self.items) else PreparedDeadlines(self.dialect, kept)

    def plus(self, other: PreparedDeadlines) -> PreparedDeadlines:
        """Both (``other``'s deadline wins an identity both have)."""
        if not other.items:
            return self
        if not self.items:
            return other
        assert self.dialect is not None
        return PreparedDeadlines(
            self.dialect, {**self.items, **other.bound_for(self.dialect).items}
        )

    def bound_for(self, dialect: Dialect) -> PreparedDeadlines:
        """These deadlines with their rows bound for ``dialect``."""
        if not self.items or _same_driver(self.dialect, dialect):
            return self
        return prepare_deadlines([ready.deadline for ready in self.items.values()], dialect)


_TABLE = DeadlineRecord.__table__  # type: ignore[attr-defined]


def _same_driver(one: Dialect | None, other: Dialect) -> bool:
    return one is other or (
        one is not None and (one.name, one.driver) == (other.name, other.driver)
    )


def prepare_deadlines(deadlines: Iterable[Deadline], dialect: Dialect) -> PreparedDeadlines:
    """Fingerprint the deadlines and bind their rows for ``dialect`` (an engine's; no
    connection needed)."""
    bind = row_binder(dialect, _TABLE, _ROW_COLUMNS)
    items: dict[Identity, _Ready] = {}
    for d in deadlines:
        fp = fingerprint(d)
        row = bind(_row(d, fp))
        items[d.subject_kind, d.subject, d.rule] = _Ready(d, fp, row[3], row)  # row[3]: status
    return PreparedDeadlines(dialect, items)


def _alerted(session: Session, keys: Iterable[str]) -> set[str]:
    """Those of these dedup keys that the ledger holds."""
    chosen = sorted(set(keys))
    alert = Alert.__table__  # type: ignore[attr-defined]
    found: set[str] = set()
    for start in range(0, len(chosen), _KEYS_CHUNK):
        query = select(alert.c.dedup_key).where(
            alert.c.dedup_key.in_(chosen[start : start + _KEYS_CHUNK])
        )
        found.update(session.scalars(query))
    return found


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


_MET = frozenset({Status.MET.value, Status.MET_LATE.value})


def _inserts(session: Session, provider_id: str, written: Sequence[_Ready]) -> list[list[Any]]:
    """The rows to insert: a met row is not planned when its breach was alerted (the
    resolved note is then due), which only the ledger, read in the transaction, says."""
    inserts = [ready.row for ready in written]
    breach = {
        index: dedup_key(provider_id, ready.deadline, "breach")
        for index, ready in enumerate(written)
        if ready.status in _MET
    }
    alerted = _alerted(session, breach.values()) if breach else set()
    if alerted:
        unplanned = row_binder(session.get_bind().dialect, _TABLE, ("planned",))([False])[0]
        for index, key in breach.items():
            if key in alerted:
                inserts[index] = [*inserts[index][:-1], unplanned]
    return inserts


def store_deadlines(
    *,
    session: Session,
    provider_id: str,
    deadlines: Iterable[Deadline] | PreparedDeadlines,
    evaluated_on: date,
    recorded_at: datetime | None = None,
    retire_missing: bool = False,
    cases: Collection[str] | None = None,
    others: bool = True,
) -> StoreDeadlinesResult:
    """Keep history: new/changed deadlines get a new row, unchanged ones are not rewritten.

    ``deadlines`` may come made ready by :func:`prepare_deadlines` (before the caller's
    write transaction: the fingerprints and rows are then not made while it holds the
    writer lock). With ``retire_missing`` the provider's current rows absent from
    ``deadlines`` are marked not current (use it only with a complete evaluation of what
    is in scope). ``cases`` narrows the scope to these case refs plus, with ``others``,
    every subject that is not a case (an incremental evaluation): current rows of other
    cases stay untouched. ``cases=()`` with ``others`` is the audit and staff subjects alone.
    """
    at = recorded_at or datetime.combine(evaluated_on, time(), tzinfo=UTC)
    dialect = session.get_bind().dialect
    if isinstance(deadlines, PreparedDeadlines):
        latest = deadlines.bound_for(dialect)
    else:
        latest = prepare_deadlines(deadlines, dialect)
    if dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE serialises
        # Two runs at once would both insert the same "current" row; the second waits here
        # (until the first commits) and then compares against the first one's rows.
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:pid))"),
            {"ns": _DEADLINES_LOCK, "pid": provider_id},
        )
    current = _current_fingerprints(session, _TABLE, provider_id, cases, others=others)
    retire: list[int] = []
    counts: Counter[tuple[str, str]] = Counter()  # (status, pack) -> change in current rows
    new = changed = unchanged = 0
    written: list[_Ready] = []
    for identity, ready in latest.items.items():
        existing = current.get(identity)
        if existing is None:
            new += 1
        elif existing.fingerprint == ready.fingerprint:
            unchanged += 1
            continue
        else:
            changed += 1
            retire.append(existing.id)
            counts[existing.status, existing.pack_id] -= 1
        counts[ready.status, ready.deadline.pack_id] += 1
        written.append(ready)
    inserts = _inserts(session, provider_id, written)
    missing = [row for identity, row in current.items() if identity not in latest.items]
    if retire_missing:
        retire += [row.id for row in missing]
        for row in missing:
            counts[row.status, row.pack_id] -= 1
    for chunk in _chunks(retire):
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.id.in_(chunk))
            .values(is_current=False, superseded_on=evaluated_on)
        )
    constants = {
        "provider_id": provider_id,
        "evaluated_on": evaluated_on,
        "is_current": True,
        "superseded_on": None,
        "created_at": at,
    }
    bulk_insert(session, _TABLE, _ROW_COLUMNS, inserts, constants=constants, bound=True)
    add_status_counts(session=session, provider_id=provider_id, changes=counts)
    session.flush()
    return StoreDeadlinesResult(
        new=new, changed=changed, unchanged=unchanged, retired=len(missing) if retire_missing else 0
    )


class _Current(NamedTuple):
    id: int
    fingerprint: str
    status: str
    pack_id: str


def _current_fingerprints(
    session: Session, table: Any, provider_id: str, cases: Collection[str] | None, *, others: bool
) -> dict[Identity, _Current]:
    """Row id, fingerprint, status and pack of the current rows in scope, by identity."""
    columns = (
        table.c.id, table.c.subject_kind, table.c.subject, table.c.rule, table.c.fingerprint,
        table.c.status, table.c.pack_id,
    )  # fmt: skip
    mine = (table.c.provider_id == provider_id) & table.c.is_current
    if cases is None:
        queries = [select(*columns).where(mine)]
    else:
        refs = sorted(cases)
        is_case = table.c.subject_kind == "case"
        other_kinds = table.c.subject_kind.in_(_OTHER_KINDS)  # index ranges, not a scan
        queries = [select(*columns).where(mine, other_kinds)] if others else []
        queries += [
            select(*columns).where(mine, is_case, table.c.subject.in_(refs[i : i + _CHUNK]))
            for i in range(0, len(refs), _CHUNK)
        ]
    return {
        (kind, subject, rule): _Current(row_id, fp, status, pack)
        for query in queries
        for row_id, kind, subject, rule, fp, status, pack in session.execute(query)
    }


def add_status_counts(
    *, session: Session, provider_id: str, changes: Mapping[tuple[str, str], int]
) -> None:
    """Apply changes to the provider's current-row counts per (status, pack)."""
    rows = [
        {"provider_id": provider_id, "status": status, "pack_id": pack, "n": n}
        for (status, pack), n in sorted(changes.items())
        if n
    ]
    if not rows:
        return
    table = DeadlineCount.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=["provider_id", "status", "pack_id"],
        set_={"n": table.c.n + insert.excluded.n},
    )
    session.execute(statement, rows)


def status_counts(
    *, session: Session, provider_ids: Collection[str] | None = None
) -> dict[str, dict[tuple[str, str], int]]:
    """Current deadline rows per provider by (status, pack), as kept by store_deadlines."""
    table = DeadlineCount.__table__  # type: ignore[attr-defined]
    query = select(table.c.provider_id, table.c.status, table.c.pack_id, table.c.n).where(
        table.c.n > 0
    )
    if provider_ids is not None:
        query = query.where(table.c.provider_id.in_(sorted(provider_ids)))
    found: dict[str, dict[tuple[str, str], int]] = {}
    for provider_id, status, pack, n in session.execute(query):
        found.setdefault(str(provider_id), {})[str(status), str(pack)] = int(n)
    return found


def to_deadline(row: DeadlineRecord) -> Deadline:
    """A stored row back as the engine's :class:`Deadline`."""
    return Deadline(
        subject_kind=cast("SubjectKind", row.subject_kind),
        subject=row.subject,
        rule=row.rule,
        status=STATUS_OF[row.status],
        due_on=row.due_on,
        event_on=row.event_on,
        days_left=row.days_left,
        details=_json_tuple(row.details),
        explanation=_json_tuple(row.explanation),
        pack_id=row.pack_id,
        provisional=_json_tuple(row.provisional),
        office_id=row.office_id,
        coach_id=row.coach_id,
        link=row.link,
        language=row.language,
        escalate=row.escalate,
        count=row.count,
        limit=row.limit_value,
    )


DEADLINE_COLUMNS = (
    "provider_id", "subject_kind", "subject", "rule", "status", "due_on", "event_on",
    "days_left", "details", "explanation", "pack_id", "provisional", "office_id", "coach_id",
    "link", "language", "escalate", "count", "limit_value",
)  # fmt: skip


def load_current_deadlines(
    *,
    session: Session,
    provider_id: str | None = None,
    statuses: Collection[Status] | None = None,
) -> list[ProviderDeadline]:
    """The current deadline of every identity (one provider, or all).

    ``statuses`` keeps only deadlines in those statuses (the notifier asks only for the
    ones its policy can act on). Rows are read as plain columns, not ORM objects: this
    is read for every deadline of every provider on every run.
    """
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    query = select(*(table.c[name] for name in DEADLINE_COLUMNS)).where(table.c.is_current)
    if provider_id is not None:
        query = query.where(table.c.provider_id == provider_id)
    if statuses is not None:
        query = query.where(table.c.status.in_(sorted(s.value for s in statuses)))
    query = query.order_by(table.c.provider_id, table.c.id)
    return [from_columns(row) for row in session.execute(query)]


def _json_tuple(text: str) -> tuple[Any, ...]:
    return () if text == "[]" else tuple(orjson.loads(text))


def from_columns(row: Any) -> ProviderDeadline:
    """A row of :data:`DEADLINE_COLUMNS` as a provider's Deadline."""
    (pid, kind, subject, rule, status, due_on, event_on, days_left, details, explanation,
     pack_id, provisional, office, coach, link, language, escalate, count, limit) = row  # fmt: skip
    deadline = Deadline(
        kind, subject, rule, STATUS_OF[status], due_on, event_on, days_left,
        _json_tuple(details), _json_tuple(explanation), pack_id, _json_tuple(provisional),
        office, coach, link, language, bool(escalate), count, limit,
    )  # fmt: skip
    return ProviderDeadline(pid, deadline)


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
