"""Storing evaluated deadlines with their history, and reading the current ones back.

A deadline's *identity* is (provider, subject kind, subject, rule). Its *fingerprint*
covers what an alert or a report depends on (status, due date, event date, count and
limit, details, routing context). :func:`store_deadlines` compares fingerprints in bulk
against the current rows (one query per provider), inserts a new row for a new or changed
deadline, marks the replaced row not current, and leaves an unchanged one untouched. A
subject's quiet deadlines (they never alert) are one row, its set
(:mod:`models.quiet`), kept the same way.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any, Literal, NamedTuple, cast, get_args

import orjson
from sqlalchemy import Dialect, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from models import quiet
from models.alerting import DeadlineCount, DeadlineRecord
from models.bulk import bulk_insert, row_binder
from models.quiet import QuietSet, Subject, change_data
from rules.deadline import (
    QUIET_STATUSES,
    STATUS_OF,
    Deadline,
    ProviderDeadline,
    Status,
    SubjectKind,
)

_CHUNK = 500  # refs per IN list when reading a page's current rows
_IDS_CHUNK = 5000  # row ids per UPDATE (SQLite takes 32 766 parameters)
#: Every subject kind but cases (audits, findings, coaches, the provider, offices).
_OTHER_KINDS = sorted(set(get_args(SubjectKind)) - {"case"})
#: PostgreSQL advisory lock namespace: one provider's deadlines are stored by one run at a time.
_DEADLINES_LOCK = 0x7A47_0002
Identity = tuple[str, str, str]  # subject_kind, subject, rule
#: The alert policy's answer, passed in by the caller: whether a new row needs no alert
#: plan of its own, given the deadline and the status of the current row it replaces
#: (None: a new identity, or one that was quiet). The notifier plans the others.
Planned = Callable[[Deadline, Status | None], bool]


def unplanned(deadline: Deadline, replaced: Status | None) -> bool:
    """Every new row waits for the notifier's plan (the default: correct, only slower)."""
    del deadline, replaced
    return False


@dataclass(frozen=True, slots=True)
class StoreDeadlinesResult:
    new: int
    changed: int
    unchanged: int
    retired: int = 0  # current rows absent from this evaluation (retire_missing=True)


def fingerprint(deadline: Deadline) -> str:
    """SHA-256 of the fields whose change makes a new history row."""
    return hashlib.sha256(orjson.dumps(change_data(deadline))).hexdigest()


#: The columns :func:`_row` fills, in its order (the rest are the same for every row).
_ROW_COLUMNS = (
    "subject_kind", "subject", "rule", "status", "due_on", "event_on", "days_left",
    "details", "explanation", "pack_id", "provisional", "office_id", "coach_id", "link",
    "language", "escalate", "count", "limit_value", "fingerprint", "planned",
)  # fmt: skip


def _json_list(values: tuple[str, ...]) -> str:
    return orjson.dumps(values).decode() if values else "[]"


def _row(d: Deadline, fp: str, planned: bool) -> tuple[Any, ...]:
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
    fingerprints and row values bound for one driver, the quiet ones packed per subject
    (:func:`prepare_deadlines`).

    Made before the write transaction, so that the transaction only compares the
    fingerprints with the stored ones and writes: on SQLite every other writer waits.
    """

    dialect: Dialect | None = None  # the rows are bound for this dialect (None: no rows)
    items: Mapping[Identity, _Ready] = field(default_factory=dict)  # one row each
    quiet: Mapping[Subject, QuietSet] = field(default_factory=dict)  # one row a subject
    planned: Planned = unplanned  # the rows' planned flags, as new identities

    def __len__(self) -> int:
        return len(self.items) + sum(len(s.deadlines) for s in self.quiet.values())

    def deadlines(self) -> list[Deadline]:
        """Every deadline, as given."""
        found = [ready.deadline for ready in self.items.values()]
        found += [d for quiet_set in self.quiet.values() for d in quiet_set.deadlines]
        return found

    def only(self, subjects: Collection[str]) -> PreparedDeadlines:
        """The deadlines of these subjects alone."""
        kept = {key: ready for key, ready in self.items.items() if key[1] in subjects}
        sets = {key: quiet_set for key, quiet_set in self.quiet.items() if key[1] in subjects}
        if len(kept) == len(self.items) and len(sets) == len(self.quiet):
            return self
        return PreparedDeadlines(self.dialect, kept, sets, self.planned)

    def plus(self, other: PreparedDeadlines) -> PreparedDeadlines:
        """Both (``other``'s deadline wins an identity both have)."""
        if not other.items and not other.quiet:
            return self
        if not self.items and not self.quiet:
            return other
        subjects = {key[:2] for key in other.items} | set(other.quiet)
        if any(key[:2] in subjects for key in self.items) or any(k in subjects for k in self.quiet):
            dialect = self.dialect or other.dialect
            assert dialect is not None
            return prepare_deadlines(
                [*self.deadlines(), *other.deadlines()], dialect, planned=other.planned
            )
        dialect = self.dialect or other.dialect
        rebound = other.bound_for(dialect) if dialect is not None else other
        return PreparedDeadlines(
            dialect,
            {**self.items, **rebound.items},
            {**self.quiet, **other.quiet},
            other.planned,
        )

    def bound_for(self, dialect: Dialect) -> PreparedDeadlines:
        """These deadlines with their rows bound for ``dialect`` (sets need no binding)."""
        if not self.items or _same_driver(self.dialect, dialect):
            return self
        return prepare_deadlines(self.deadlines(), dialect, planned=self.planned)


_TABLE = DeadlineRecord.__table__  # type: ignore[attr-defined]


def _same_driver(one: Dialect | None, other: Dialect) -> bool:
    return one is other or (
        one is not None and (one.name, one.driver) == (other.name, other.driver)
    )


def prepare_deadlines(
    deadlines: Iterable[Deadline], dialect: Dialect, *, planned: Planned = unplanned
) -> PreparedDeadlines:
    """Fingerprint the deadlines and bind their rows for ``dialect`` (an engine's; no
    connection needed); pack the quiet ones per subject. ``planned``: see :data:`Planned`."""
    bind = row_binder(dialect, _TABLE, _ROW_COLUMNS)
    items: dict[Identity, _Ready] = {}
    grouped: dict[Subject, dict[str, Deadline]] = {}
    for d in deadlines:
        key = (d.subject_kind, d.subject, d.rule)
        if d.status in QUIET_STATUSES:
            items.pop(key, None)
            grouped.setdefault(key[:2], {})[d.rule] = d
            continue
        grouped.get(key[:2], {}).pop(d.rule, None)
        fp = fingerprint(d)
        row = bind(_row(d, fp, planned(d, None)))
        items[key] = _Ready(d, fp, row[3], row)  # row[3]: status
    sets = {key: quiet.pack(*key, found.values()) for key, found in grouped.items() if found}
    return PreparedDeadlines(dialect, items, sets, planned)


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _inserts(
    dialect: Dialect, written: Sequence[tuple[_Ready, Status | None]], planned: Planned
) -> list[list[Any]]:
    """The rows to insert, their planned flags as the policy answers for the row each one
    replaces (made ready as new identities: only a different answer is bound again)."""
    inserts = []
    bind = None
    for ready, replaced in written:
        row = ready.row
        if replaced is not None:
            flag = planned(ready.deadline, replaced)
            if flag != planned(ready.deadline, None):
                bind = bind or row_binder(dialect, _TABLE, ("planned",))
                row = [*row[:-1], bind([flag])[0]]
        inserts.append(row)
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
    planned: Planned | None = None,
) -> StoreDeadlinesResult:
    """Keep history: new/changed deadlines get a new row, unchanged ones are not rewritten.

    A subject's quiet deadlines are one row, its set (:mod:`models.quiet`): a set
    with any deadline new or changed is a new row. The counts in the result are of
    deadlines either way. ``deadlines`` may come made ready by :func:`prepare_deadlines`
    (before the caller's write transaction: the fingerprints and rows are then not made
    while it holds the writer lock). With ``retire_missing`` the provider's current
    deadlines absent from ``deadlines`` are marked not current (use it only with a
    complete evaluation of what is in scope). ``cases`` narrows the scope to these case
    refs plus, with ``others``, every subject that is not a case (an incremental
    evaluation): current rows of other cases stay untouched. ``cases=()`` with ``others``
    is the audit and staff subjects alone. ``planned`` is the alert policy's answer
    (:data:`Planned`; default: the one ``deadlines`` were made ready with, else
    :func:`unplanned`).
    """
    at = recorded_at or datetime.combine(evaluated_on, time(), tzinfo=UTC)
    dialect = session.get_bind().dialect
    if isinstance(deadlines, PreparedDeadlines):
        latest = deadlines.bound_for(dialect)
        planned = planned or latest.planned
    else:
        planned = planned or unplanned
        latest = prepare_deadlines(deadlines, dialect, planned=planned)
    if dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE serialises
        # Two runs at once would both insert the same "current" row; the second waits here
        # (until the first commits) and then compares against the first one's rows.
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:pid))"),
            {"ns": _DEADLINES_LOCK, "pid": provider_id},
        )
    current = _current_fingerprints(session, provider_id, cases, others=others)
    sets = _current_sets(session, provider_id, cases, others=others)
    change = _Change()
    # The stored sets that this evaluation replaces: those of its subjects (unless the
    # same), and with retire_missing every set in scope. Their deadlines are read back.
    evaluated = {key[:2] for key in latest.items} | set(latest.quiet) if sets else set()
    leaving = {
        key: row
        for key, row in sets.items()
        if (key in latest.quiet and latest.quiet[key].fingerprint != row.fingerprint)
        or (key not in latest.quiet and (retire_missing or key in evaluated))
    }
    was_quiet = quiet.read_sets(session, [row.id for row in leaving.values()])
    written = _compare_rows(latest, current, was_quiet, change)
    new_sets, kept = _compare_sets(
        latest, sets, leaving, was_quiet, current, change, retire_missing
    )
    _retire_rows(latest, current, change, retire_missing=retire_missing)
    inserts = _inserts(dialect, written, planned)
    for chunk in _chunks(change.rows):
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.id.in_(chunk))
            .values(is_current=False, superseded_on=evaluated_on)
        )
    for chunk in _chunks([row.id for key, row in leaving.items() if key not in kept]):
        session.execute(
            update(quiet.TABLE)
            .where(quiet.TABLE.c.id.in_(chunk))
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
    set_rows = [(q.subject_kind, q.subject, q.packed, q.fingerprint) for q in new_sets]
    bulk_insert(session, quiet.TABLE, _SET_COLUMNS, set_rows, constants=constants)
    add_status_counts(session=session, provider_id=provider_id, changes=change.counts)
    session.flush()
    return StoreDeadlinesResult(
        new=change.new,
        changed=change.changed,
        unchanged=change.unchanged,
        retired=change.retired if retire_missing else 0,
    )


_SET_COLUMNS = ("subject_kind", "subject", "deadlines", "fingerprint")


@dataclass(slots=True)
class _Change:
    """What one store changes: deadlines new, changed, unchanged and retired; the single
    rows it retires; the change in current deadlines per (status, pack)."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    retired: int = 0
    rows: list[int] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def seen(self, before: bool) -> None:
        """A deadline written: changed when its identity was current before, else new."""
        if before:
            self.changed += 1
        else:
            self.new += 1

    def retire(self, row: _Current) -> None:
        self.rows.append(row.id)
        self.counts[row.status, row.pack_id] -= 1


def _compare_rows(
    latest: PreparedDeadlines,
    current: Mapping[Identity, _Current],
    was_quiet: Mapping[Subject, Mapping[str, Deadline]],
    change: _Change,
) -> list[tuple[_Ready, Status | None]]:
    """The single rows to write (new or changed), each with the status of the single row it
    replaces; ``change`` counts them and retires the rows they replace."""
    written: list[tuple[_Ready, Status | None]] = []
    for identity, ready in latest.items.items():
        existing = current.get(identity)
        if existing is None:
            change.seen(identity[2] in was_quiet.get(identity[:2], {}))
        elif existing.fingerprint == ready.fingerprint:
            change.unchanged += 1
            continue
        else:
            change.seen(True)
            change.retire(existing)
        change.counts[ready.status, ready.deadline.pack_id] += 1
        written.append((ready, None if existing is None else STATUS_OF[existing.status]))
    return written


def _retire_rows(
    latest: PreparedDeadlines,
    current: Mapping[Identity, _Current],
    change: _Change,
    *,
    retire_missing: bool,
) -> None:
    """Retire the current single rows that no new row replaced: quiet now (their subject's
    set holds them) or, with ``retire_missing``, absent."""
    for identity, row in current.items():
        if identity in latest.items:
            continue
        quiet_set = latest.quiet.get(identity[:2])
        if quiet_set is not None and identity[2] in quiet_set.rules:
            change.retire(row)
        elif retire_missing:
            change.retire(row)
            change.retired += 1


def _compare_sets(  # noqa: PLR0917 - the store's state, passed once
    latest: PreparedDeadlines,
    sets: Mapping[Subject, _CurrentSet],
    leaving: Mapping[Subject, _CurrentSet],
    was_quiet: Mapping[Subject, Mapping[str, Deadline]],
    current: Mapping[Identity, _Current],
    change: _Change,
    retire_missing: bool,
) -> tuple[list[QuietSet], set[Subject]]:
    """The sets to write, and the stored sets to keep after all; ``change`` counts their
    deadlines. Without ``retire_missing`` a replaced set's deadlines that this evaluation
    does not have are kept in the new one."""
    written: list[QuietSet] = []
    kept: set[Subject] = set()
    for key in {*latest.quiet, *leaving}:
        now = latest.quiet.get(key)
        stored = sets.get(key)
        if now is not None and stored is not None and now.fingerprint == stored.fingerprint:
            change.unchanged += len(now.deadlines)
            continue
        before = was_quiet.get(key, {})
        given = now.deadlines if now is not None else ()
        _count_set(key, given, before, current, change)
        carried = _leaving_deadlines(key, now, before, latest, change, retire_missing)
        packed = now if now is not None and not carried else None
        if packed is None and (given or carried):
            packed = quiet.pack(*key, [*given, *carried])
        if packed is not None and stored is not None and packed.fingerprint == stored.fingerprint:
            kept.add(key)  # what it held, kept: no new row
        elif packed is not None:
            written.append(packed)
    return written, kept


def _count_set(
    key: Subject,
    given: Sequence[Deadline],
    before: Mapping[str, Deadline],
    current: Mapping[Identity, _Current],
    change: _Change,
) -> None:
    """Count a subject's quiet deadlines as new, changed or unchanged (``before``: its
    stored set's; ``current``: the single rows, one of which may hold one of them)."""
    change.counts.update((d.status.value, d.pack_id) for d in given)
    if not before and not current:  # a first store: every deadline new
        change.new += len(given)
        return
    for d in given:
        old = before.get(d.rule)
        if old is not None and change_data(old) == change_data(d):
            change.unchanged += 1
        else:
            change.seen(old is not None or (*key, d.rule) in current)


def _leaving_deadlines(  # noqa: PLR0917 - the store's state, passed once
    key: Subject,
    now: QuietSet | None,
    before: Mapping[str, Deadline],
    latest: PreparedDeadlines,
    change: _Change,
    retire_missing: bool,
) -> list[Deadline]:
    """The replaced set's deadlines that the new set keeps: without ``retire_missing``,
    those this evaluation does not have (a single row now counts as having it)."""
    rules = now.rules if now is not None else frozenset()
    carried: list[Deadline] = []
    for rule, old in before.items():
        change.counts[old.status.value, old.pack_id] -= 1
        if rule in rules or (*key, rule) in latest.items:
            continue
        if retire_missing:
            change.retired += 1
        else:
            carried.append(old)
            change.counts[old.status.value, old.pack_id] += 1
    return carried


_CURRENT_COLUMNS = (
    _TABLE.c.id, _TABLE.c.subject_kind, _TABLE.c.subject, _TABLE.c.rule,
    _TABLE.c.fingerprint, _TABLE.c.status, _TABLE.c.pack_id,
)  # fmt: skip


class _Current(NamedTuple):
    id: int
    fingerprint: str
    status: str
    pack_id: str


def _in_scope(
    read: Literal["rows", "sets"],
    provider_id: str,
    cases: Collection[str] | None,
    *,
    others: bool,
) -> Iterator[tuple[Any, dict[str, object]]]:
    """The queries of the provider's current rows in scope (``cases`` None: all; else
    those cases, plus with ``others`` every subject that is not a case), with their
    parameters."""
    everything, other_kinds, some_cases = _scope_queries(read)
    if cases is None:
        yield everything, {"provider_id": provider_id}
        return
    if others:
        yield other_kinds, {"provider_id": provider_id}  # index ranges
    refs = sorted(cases)
    for i in range(0, len(refs), _CHUNK):
        yield some_cases, {"provider_id": provider_id, "refs": refs[i : i + _CHUNK]}


@cache
def _scope_queries(read: Literal["rows", "sets"]) -> tuple[Any, Any, Any]:
    """:func:`_in_scope`'s three queries, built once (bound parameters): of the single
    rows' :data:`_CURRENT_COLUMNS` or the quiet sets' :data:`_SET_CURRENT`."""
    table, columns = (_TABLE, _CURRENT_COLUMNS) if read == "rows" else (quiet.TABLE, _SET_CURRENT)
    mine = (table.c.provider_id == bindparam("provider_id")) & table.c.is_current
    refs = table.c.subject.in_(bindparam("refs", expanding=True))
    return (
        select(*columns).where(mine),
        select(*columns).where(mine, table.c.subject_kind.in_(_OTHER_KINDS)),
        select(*columns).where(mine, table.c.subject_kind == "case", refs),
    )


def _current_fingerprints(
    session: Session, provider_id: str, cases: Collection[str] | None, *, others: bool
) -> dict[Identity, _Current]:
    """Row id, fingerprint, status and pack of the current rows in scope, by identity."""
    return {
        (kind, subject, rule): _Current(row_id, fp, status, pack)
        for query, params in _in_scope("rows", provider_id, cases, others=others)
        for row_id, kind, subject, rule, fp, status, pack in session.execute(query, params)
    }


_SET_CURRENT = (
    quiet.TABLE.c.id,
    quiet.TABLE.c.subject_kind,
    quiet.TABLE.c.subject,
    quiet.TABLE.c.fingerprint,
)


class _CurrentSet(NamedTuple):
    id: int
    fingerprint: str


def _current_sets(
    session: Session, provider_id: str, cases: Collection[str] | None, *, others: bool
) -> dict[Subject, _CurrentSet]:
    """Id and fingerprint of the current quiet sets in scope, by subject."""
    return {
        (kind, subject): _CurrentSet(row_id, fp)
        for query, params in _in_scope("sets", provider_id, cases, others=others)
        for row_id, kind, subject, fp in session.execute(query, params)
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


_COUNT = DeadlineCount.__table__  # type: ignore[attr-defined]
_COUNTS = select(_COUNT.c.provider_id, _COUNT.c.status, _COUNT.c.pack_id, _COUNT.c.n).where(
    _COUNT.c.n > 0
)
_COUNTS_OF = _COUNTS.where(_COUNT.c.provider_id.in_(bindparam("providers", expanding=True)))


def status_counts(
    *, session: Session, provider_ids: Collection[str] | None = None
) -> dict[str, dict[tuple[str, str], int]]:
    """Current deadline rows per provider by (status, pack), as kept by store_deadlines."""
    if provider_ids is None:
        rows = session.execute(_COUNTS)
    else:
        rows = session.execute(_COUNTS_OF, {"providers": sorted(provider_ids)})
    found: dict[str, dict[tuple[str, str], int]] = {}
    for provider_id, status, pack, n in rows:
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
    """The current deadline of every identity (one provider, or all): per provider its
    single rows, then its quiet sets' deadlines.

    ``statuses`` keeps only deadlines in those statuses (the notifier asks only for the
    ones its policy can act on, and no set is read then). Rows are read as plain
    columns, not ORM objects: this is read for every deadline of every provider.
    """
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    query = select(*(table.c[name] for name in DEADLINE_COLUMNS)).where(table.c.is_current)
    if provider_id is not None:
        query = query.where(table.c.provider_id == provider_id)
    if statuses is not None:
        query = query.where(table.c.status.in_(sorted(s.value for s in statuses)))
    query = query.order_by(table.c.provider_id, table.c.id)
    found = [from_columns(row) for row in session.execute(query)]
    if statuses is None or not QUIET_STATUSES.isdisjoint(statuses):
        found += [
            ProviderDeadline(pid, d)
            for pid, d in quiet.current_deadlines(
                session, provider_id=provider_id, statuses=statuses
            )
        ]
        found.sort(key=lambda item: item.provider_id)  # stable: single rows first
    return found


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


def _held(stored: Mapping[str, Any]) -> dict[str, Any]:
    """When a stored set held its deadlines."""
    names = ("evaluated_on", "is_current", "superseded_on", "created_at")
    return {name: stored[name] for name in names}


def deadline_history(
    *, session: Session, provider_id: str, subject: str, rule: str
) -> list[DeadlineRecord]:
    """Every stored row of one subject and rule, oldest first; a time the deadline was
    quiet comes from its subject's set, as a row that is not in the table (no id)."""
    query = (
        select(DeadlineRecord)
        .where(
            col(DeadlineRecord.provider_id) == provider_id,
            col(DeadlineRecord.subject) == subject,
            col(DeadlineRecord.rule) == rule,
        )
        .order_by(col(DeadlineRecord.id))
    )
    rows = list(session.scalars(query))
    sets = quiet.history(session, provider_id=provider_id, subject=subject, rule=rule)
    for stored, d in sets:
        values = dict(zip(_ROW_COLUMNS, _row(d, fingerprint(d), True), strict=True))
        rows.append(DeadlineRecord(provider_id=provider_id, **values, **_held(stored)))
    if sets:
        rows.sort(key=lambda row: (row.created_at, row.evaluated_on))  # stable: by id within
    return rows
