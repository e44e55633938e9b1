"""The alert ledger: write ahead, claim, record results, acknowledgements and silences.

Write-ahead protocol (see docs/alerts.md for the guarantee):

1. :func:`write_alerts` inserts one ``pending`` row per (dedup key, target) with
   ``ON CONFLICT DO NOTHING`` and the caller COMMITS before anything is sent;
2. :func:`claim` moves the rows to ``sending`` with
   ``UPDATE ... WHERE id IN (...) AND <claimable> RETURNING id`` (500 ids a statement)
   and keeps only the ids returned: the claimable condition is re-checked per row by
   the database, so two concurrent runs never both own a row (SQLite and PostgreSQL);
   a ``delivery_attempt`` row in status ``sending`` is written in the same transaction;
3. after Apprise answered, :func:`record_result` marks the rows ``sent`` or ``failed``
   (with ``next_attempt_at`` backoff) and finishes the attempt.

A row left in ``sending`` by a crashed run is claimable again after the claim lease.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from models.alerting import OPEN_ALERT_STATUSES, Acknowledgement, Alert, DeliveryAttempt
from models.bulk import insert_dicts
from rules.deadline import ProviderDeadline

MAX_BACKOFF = timedelta(hours=24)
#: The ledger's rows that are no deadline's: the daily breach reminder (one per quality
#: recipient and day) and the alerts to operations.
REMINDER_RULE = "BREACH-REMINDER"
#: A provider's backlog summary to quality staff (its first check, or after an outage); the
#: breaches it summarises are kept as ``summarized`` rows, never sent on their own.
BACKLOG_RULE, SUMMARIZED, BACKLOG_TARGET = "BACKLOG-SUMMARY", "summarized", "backlog"
OPERATIONS_RULES = frozenset({"DELIVERY-FAILED", "SYNC-FAILED", "SYNC-RESOLVED", "CHECK-OVERDUE"})
#: A provider's outage in the ledger: SYNC-FAILED rows (one a day while it lasts), ended
#: by one SYNC-RESOLVED row.
OUTAGE_RULE, OUTAGE_RESOLVED_RULE = "SYNC-FAILED", "SYNC-RESOLVED"
SuppressionKind = Literal["ack", "silence"]
_KEYS_CHUNK = 5000  # dedup keys or row ids per IN list (SQLite takes 32 766 parameters)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the policy needs to know about a dedup key already in the ledger."""

    open: bool  # pending, sending or failed: not yet delivered
    created_on: date


@dataclass(frozen=True, slots=True)
class Suppression:
    """An acknowledgement or a silence for one subject and rule."""

    kind: SuppressionKind
    subject: str
    rule: str
    reason: str
    by: str
    until_on: date | None = None  # None: until the deadline is met (acks only)
    provider_id: str | None = None  # None: every provider

    def applies(self, item: ProviderDeadline, today: date) -> bool:
        """True when this suppression quietens ``item`` on ``today``."""
        return self.covers(item.provider_id, item.deadline.subject, item.deadline.rule, today)

    def covers(self, provider_id: str, subject: str, rule: str, today: date) -> bool:
        """True when this suppression quietens that provider's subject and rule on ``today``."""
        if self.until_on is not None and today > self.until_on:
            return False
        if self.provider_id is not None and self.provider_id != provider_id:
            return False
        return self.subject == subject and self.rule == rule


@dataclass(frozen=True, slots=True)
class ClaimedAlert:
    """What delivery needs of one claimed ledger row."""

    id: int
    attempts: int  # including this attempt
    item: str  # the MessageItem's JSON


@dataclass(frozen=True, slots=True)
class Claimed:
    attempt_id: int
    alerts: list[ClaimedAlert]


def _entries(rows: Iterable[tuple[str, str, date]]) -> dict[str, LedgerEntry]:
    """(dedup key, status, first created_on) rows merged into one entry per key."""
    entries: dict[str, LedgerEntry] = {}
    for key, status, created_on in rows:
        before = entries.get(key)
        is_open = status in OPEN_ALERT_STATUSES or (before is not None and before.open)
        first = min(created_on, before.created_on) if before else created_on
        entries[key] = LedgerEntry(open=is_open, created_on=first)
    return entries


_ALERT = Alert.__table__  # type: ignore[attr-defined]
_ACK = Acknowledgement.__table__  # type: ignore[attr-defined]
#: The ledger reads every provider's check makes, built once (bound parameters).
_GROUPED = select(_ALERT.c.dedup_key, _ALERT.c.status, func.min(_ALERT.c.created_on))
_BY_KEYS = _GROUPED.where(_ALERT.c.dedup_key.in_(bindparam("keys", expanding=True))).group_by(
    _ALERT.c.dedup_key, _ALERT.c.status
)
_OPEN = _GROUPED.where(
    _ALERT.c.status.in_(OPEN_ALERT_STATUSES),
    _ALERT.c.rule.not_in(sorted({*OPERATIONS_RULES, REMINDER_RULE, BACKLOG_RULE})),
)
_OPEN_ALL = _OPEN.group_by(_ALERT.c.dedup_key, _ALERT.c.status)
_OPEN_OF = _OPEN.where(_ALERT.c.provider_id == bindparam("provider_id")).group_by(
    _ALERT.c.dedup_key, _ALERT.c.status
)


def entries_for_keys(*, session: Session, keys: Iterable[str]) -> dict[str, LedgerEntry]:
    """The ledger entries of just these dedup keys (5 000 keys a query, on the key index)."""
    wanted = sorted(set(keys))
    rows: list[tuple[str, str, date]] = []
    for start in range(0, len(wanted), _KEYS_CHUNK):
        found = session.execute(_BY_KEYS, {"keys": wanted[start : start + _KEYS_CHUNK]})
        rows.extend((str(k), str(status), on) for k, status, on in found)
    return _entries(rows)


def open_entries(*, session: Session, provider_id: str | None = None) -> dict[str, LedgerEntry]:
    """Undelivered deadline alerts (all providers, or one): the plan decides their fate."""
    if provider_id is None:
        return _entries(session.execute(_OPEN_ALL))
    return _entries(session.execute(_OPEN_OF, {"provider_id": provider_id}))


def open_breaches(*, session: Session) -> set[tuple[str, str, str, str]]:
    """The deadlines (provider, subject kind, subject, rule) whose breach alert is undelivered.

    Read after the run's alerts were written, these are the breaches alerted in this run
    or still waiting for delivery: the day's reminder leaves them out.
    """
    query = (
        select(col(Alert.provider_id), col(Alert.subject_kind), col(Alert.subject), col(Alert.rule))
        .where(col(Alert.stage) == "breach", col(Alert.status).in_(OPEN_ALERT_STATUSES))
        .distinct()
    )
    return {(p, k, s, r) for p, k, s, r in session.execute(query)}


def stale_reminders(*, session: Session, stage: str) -> list[str]:
    """Undelivered breach reminders of earlier days (today's reminder replaces them)."""
    query = select(col(Alert.dedup_key)).where(
        col(Alert.rule) == REMINDER_RULE,
        col(Alert.stage) != stage,
        col(Alert.status).in_(["pending", "failed"]),
    )
    return sorted(set(session.scalars(query)))


def _insert(session: Session) -> Any:
    table = Alert.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def write_alerts(*, session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ledger rows; a (dedup key, target) already there is left alone. Commit after.

    Returns the rows inserted (the database's count: conflicting rows are not written)."""
    statement = _insert(session).on_conflict_do_nothing(index_elements=["dedup_key", "target_key"])
    return insert_dicts(session, statement, rows)


def _status_of_named() -> Any:
    """The status as an expression, for statements that name their rows by id or dedup
    key: those find the rows through that index. Given a plain status test, SQLite walked
    the status index instead, through every target's and provider's undelivered alerts
    (a national claim of 70 000 rows in chunks of 5 000: 15 walks of all 70 000)."""
    return col(Alert.status) + ""


def cancel(*, session: Session, keys: Iterable[str], reason: str, now: datetime) -> int:
    """Cancel undelivered (pending/failed) rows of keys the policy no longer justifies."""
    keys = list(keys)
    cancelled = 0
    for start in range(0, len(keys), 500):
        result = session.execute(
            update(Alert)
            .where(col(Alert.dedup_key).in_(keys[start : start + 500]))
            .where(_status_of_named().in_(["pending", "failed"]))
            .values(status="cancelled", last_error=reason, claimed_at=now)
            .execution_options(synchronize_session=False)  # no ORM objects to keep in step
        )
        cancelled += result.rowcount  # type: ignore[attr-defined]
    return cancelled


def _claimable(now: datetime, lease: timedelta, *, named: bool = False) -> Any:
    """Ready to send: pending or failed and due, or claimed by a run whose lease ran out.
    ``named``: for a statement that names its rows by id (:func:`_status_of_named`)."""
    status = _status_of_named() if named else col(Alert.status)
    return or_(
        and_(
            status.in_(["pending", "failed"]),
            or_(col(Alert.next_attempt_at).is_(None), col(Alert.next_attempt_at) <= now),
        ),
        and_(status == "sending", col(Alert.claimed_at) < now - lease),
    )


def claimable_targets(*, session: Session, now: datetime, lease: timedelta) -> list[str]:
    """Targets with at least one row ready to send, operations last."""
    query = select(col(Alert.target_key), func.min(col(Alert.role))).where(_claimable(now, lease))
    rows = session.execute(query.group_by(col(Alert.target_key))).all()
    return [key for key, role in sorted(rows, key=lambda r: (r[1] == "operations", r[0]))]


def claim(
    *, session: Session, target_key: str, target_label: str, now: datetime, lease: timedelta
) -> Claimed | None:
    """Own this target's ready rows and open an attempt (None: another run owns them).

    One UPDATE per chunk of the ready ids claims the rows that are still ready (rowcount
    semantics: a row another run claimed meanwhile is not returned), points them at the
    attempt and returns what delivery needs of them.
    """
    ids = session.scalars(
        select(col(Alert.id))
        .where(col(Alert.target_key) == target_key, _claimable(now, lease))
        .order_by(col(Alert.id))
    ).all()
    if not ids:
        return None
    attempt = DeliveryAttempt(
        target_key=target_key,
        target_label=target_label,
        status="sending",
        alert_ids="[]",
        started_at=now,
    )
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    alerts: list[ClaimedAlert] = []
    for start in range(0, len(ids), _KEYS_CHUNK):
        statement = (
            update(Alert)
            .where(
                col(Alert.id).in_(ids[start : start + _KEYS_CHUNK]),
                _claimable(now, lease, named=True),
            )
            .values(
                status="sending",
                claimed_at=now,
                attempts=col(Alert.attempts) + 1,
                last_attempt_id=attempt.id,
            )
            .returning(col(Alert.id), col(Alert.attempts), col(Alert.item))
            .execution_options(synchronize_session=False)
        )
        alerts.extend(ClaimedAlert(*row) for row in session.execute(statement))
    if not alerts:
        session.delete(attempt)
        return None
    alerts.sort(key=lambda alert: alert.id)
    attempt.alert_ids = json.dumps([alert.id for alert in alerts])
    return Claimed(attempt_id=attempt.id, alerts=alerts)


def backoff(attempts: int, base_minutes: int) -> timedelta:
    """``base * 2^(attempts-1)`` minutes, at most a day."""
    return min(timedelta(minutes=base_minutes * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def record_result(
    *,
    session: Session,
    claimed: Claimed,
    ok: bool,
    services: list[dict[str, object]],
    error: str | None,
    log: str,
    now: datetime,
    retry_base_minutes: int,
) -> None:
    """Mark the claimed rows sent or failed (with backoff) and finish the attempt."""
    by_attempts: dict[int, list[int]] = {}
    for alert in claimed.alerts:
        by_attempts.setdefault(0 if ok else alert.attempts, []).append(alert.id)
    for attempts, ids in by_attempts.items():
        values: dict[str, Any] = {"last_error": error}
        if ok:
            values.update(status="sent", sent_at=now)
        else:
            values.update(
                status="failed", next_attempt_at=now + backoff(attempts, retry_base_minutes)
            )
        for start in range(0, len(ids), _KEYS_CHUNK):
            session.execute(
                update(Alert)
                .where(
                    col(Alert.id).in_(ids[start : start + _KEYS_CHUNK]),
                    _status_of_named() == "sending",
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
    session.execute(
        update(DeliveryAttempt)
        .where(col(DeliveryAttempt.id) == claimed.attempt_id)
        .values(
            status="sent" if ok else "failed",
            services=json.dumps(services),
            error=error,
            log=log,
            finished_at=now,
        )
    )


def needs_operations(*, session: Session, max_attempts: int) -> list[Alert]:
    """Failed non-operations rows that reached the attempt limit and were not reported."""
    query = select(Alert).where(
        col(Alert.status) == "failed",
        col(Alert.attempts) >= max_attempts,
        col(Alert.operations_notified).is_(False),
        col(Alert.role) != "operations",
    )
    return list(session.scalars(query.order_by(col(Alert.id))))


def mark_operations_notified(*, session: Session, ids: Sequence[int]) -> None:
    session.execute(
        update(Alert).where(col(Alert.id).in_(list(ids))).values(operations_notified=True)
    )


def outage_since(*, session: Session, provider_id: str) -> datetime | None:
    """When the provider's current outage was first told to operations (None: none open):
    its first SYNC-FAILED row after its last SYNC-RESOLVED row."""
    resolved = session.scalar(
        select(func.max(col(Alert.created_at))).where(
            col(Alert.rule) == OUTAGE_RESOLVED_RULE, col(Alert.subject) == provider_id
        )
    )
    query = select(func.min(col(Alert.created_at))).where(
        col(Alert.rule) == OUTAGE_RULE, col(Alert.subject) == provider_id
    )
    if resolved is not None:
        query = query.where(col(Alert.created_at) > resolved)
    found: datetime | None = session.scalar(query)
    return found


def count_open(*, session: Session) -> int:
    query = (
        select(func.count()).select_from(Alert).where(col(Alert.status).in_(OPEN_ALERT_STATUSES))
    )
    return int(session.scalar(query) or 0)


def add_suppression(
    *,
    session: Session,
    kind: str,
    subject: str,
    rule: str,
    reason: str,
    by: str,
    until_on: date | None,
    now: datetime,
    provider_id: str | None = None,
) -> Acknowledgement:
    """Record an acknowledgement or a silence (who, why, until when)."""
    row = Acknowledgement(
        kind=kind,
        provider_id=provider_id,
        subject=subject,
        rule=rule,
        reason=reason,
        by=by,
        until_on=until_on,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def revoke_suppressions(
    *, session: Session, subject: str, rule: str, by: str, reason: str, now: datetime
) -> int:
    """End every acknowledgement and silence in force for this subject and rule (the rows
    stay, with who revoked them and why); the rows revoked."""
    result = session.execute(
        update(Acknowledgement)
        .where(
            col(Acknowledgement.subject) == subject,
            col(Acknowledgement.rule) == rule,
            col(Acknowledgement.revoked_at).is_(None),
            or_(
                col(Acknowledgement.until_on).is_(None),
                col(Acknowledgement.until_on) >= now.date(),
            ),
        )
        .values(revoked_at=now, revoked_by=by, revoke_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SuppressionRecord:
    """An acknowledgement or silence as the report lists it: who, why, until, revoked."""

    kind: str
    provider_id: str | None
    subject: str
    rule: str
    reason: str
    by: str
    until_on: date | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


def suppression_records(
    *, session: Session, today: date, since: datetime
) -> list[SuppressionRecord]:
    """Those in force on ``today`` and those revoked since ``since``, oldest first."""
    query = (
        select(Acknowledgement)
        .where(
            or_(
                and_(
                    col(Acknowledgement.revoked_at).is_(None),
                    or_(
                        col(Acknowledgement.until_on).is_(None),
                        col(Acknowledgement.until_on) >= today,
                    ),
                ),
                col(Acknowledgement.revoked_at) >= since,
            )
        )
        .order_by(col(Acknowledgement.id))
    )
    names = SuppressionRecord.__slots__
    return [
        SuppressionRecord(**{name: getattr(row, name) for name in names})
        for row in session.scalars(query)
    ]


_SUPPRESSIONS = (
    select(
        _ACK.c.kind,
        _ACK.c.subject,
        _ACK.c.rule,
        _ACK.c.reason,
        _ACK.c.by,
        _ACK.c.until_on,
        _ACK.c.provider_id,
    )
    .where(
        _ACK.c.revoked_at.is_(None),
        or_(_ACK.c.until_on.is_(None), _ACK.c.until_on >= bindparam("today")),
    )
    .order_by(_ACK.c.id)
)


def active_suppressions(*, session: Session, today: date) -> list[Suppression]:
    return [
        Suppression(
            kind="silence" if kind == "silence" else "ack",
            subject=subject,
            rule=rule,
            reason=reason,
            by=by,
            until_on=until_on,
            provider_id=provider_id,
        )
        for kind, subject, rule, reason, by, until_on, provider_id in session.execute(
            _SUPPRESSIONS, {"today": today}
        )
    ]


def list_alerts(*, session: Session, statuses: Sequence[str] = (), limit: int = 200) -> list[Alert]:
    """Ledger rows, newest first (optionally only some statuses)."""
    query = select(Alert)
    if statuses:
        query = query.where(col(Alert.status).in_(list(statuses)))
    return list(session.scalars(query.order_by(col(Alert.id).desc()).limit(limit)))


def possible_duplicates(*, session: Session, now: datetime, lease: timedelta) -> int:
    """Attempts left in ``sending`` past the lease: the receiver may have got them."""
    query = (
        select(func.count())
        .select_from(DeliveryAttempt)
        .where(
            col(DeliveryAttempt.status) == "sending", col(DeliveryAttempt.started_at) < now - lease
        )
    )
    return int(session.scalar(query) or 0)
