"""Tables for alerting: deadlines with history, the alert ledger, attempts, acks/silences.

- ``deadline_record``   every evaluated deadline; a changed status or due date is a new
                        row and the previous one is marked not current (history kept);
                        at most one current row per (provider, subject kind, subject, rule);
                        ``planned`` once the notifier has planned the row's alerts
- ``quiet_deadline_set``  a subject's *quiet* deadlines (ok, waiting, not applicable,
                        unconfigured: they never alert) packed in one row, with the same
                        history: a changed set is a new row, the previous one not current.
                        A deadline is current in one of the two tables, never both
- ``deadline_status_count``  current deadlines per (provider, status, pack), changed in
                        the same transaction as the rows, so summaries read a dozen rows
- ``alert``             the write-ahead ledger: one row per (dedup key, target), written
                        and committed before anything is sent
- ``delivery_attempt``  one row per digest sent to one target: status, per-service
                        result, the error and Apprise's own log lines (masked)
- ``acknowledgement``   acknowledgements and silences: who, why, until when

Alert statuses: ``pending`` → ``sending`` (claimed, ``claimed_at``) → ``sent`` or
``failed`` (retried after ``next_attempt_at``); ``cancelled`` when the policy no longer
justifies an undelivered alert (met, superseded by a breach, moved due date, silenced);
``summarized`` for an old breach told in a provider's backlog summary (never sent alone).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime

ALERT_STATUSES = ("pending", "sending", "sent", "failed", "cancelled", "summarized")
OPEN_ALERT_STATUSES = ("pending", "sending", "failed")


class DeadlineRecord(SQLModel, table=True):
    """One evaluated deadline; ``is_current`` marks the newest row of its key."""

    __tablename__ = "deadline_record"
    __table_args__ = (
        Index(
            "uq_deadline_record_current",
            "provider_id",
            "subject_kind",
            "subject",
            "rule",
            unique=True,
            sqlite_where=text("is_current = 1"),  # as SQLite is given it: queries use the index
            postgresql_where=text("is_current"),
        ),
        Index(
            "ix_deadline_record_unplanned",
            "provider_id",
            sqlite_where=text("is_current = 1 AND planned = 0"),
            postgresql_where=text("is_current AND NOT planned"),
        ),
        Index(
            "ix_deadline_record_current_due",
            "status",
            "due_on",
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
        Index(  # one provider's warning window (its check's alert planning); only a query
            # with a due_on comparison can use it (due_on IS NOT NULL), so it never competes
            # with ix_deadline_record_unplanned for the provider's unplanned rows
            "ix_deadline_record_current_provider_due",
            "provider_id",
            "due_on",
            sqlite_where=text("is_current = 1 AND due_on IS NOT NULL"),
            postgresql_where=text("is_current AND due_on IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64)
    subject_kind: str = Field(max_length=16)
    subject: str = Field(max_length=200)
    rule: str = Field(max_length=64)
    status: str = Field(max_length=32)
    due_on: date | None = None
    event_on: date | None = None
    days_left: int | None = None  # as evaluated on ``evaluated_on``
    details: str = Field(default="[]", sa_type=Text)  # JSON list
    explanation: str = Field(default="[]", sa_type=Text)  # JSON list
    pack_id: str = Field(default="", max_length=64)
    provisional: str = Field(default="[]", sa_type=Text)  # JSON list
    office_id: str | None = Field(default=None, max_length=64)
    coach_id: str | None = Field(default=None, max_length=64)
    link: str | None = Field(default=None, max_length=2048)
    language: str | None = Field(default=None, max_length=8)
    escalate: bool = False
    count: int | None = None
    limit_value: int | None = None
    fingerprint: str = Field(max_length=64)
    evaluated_on: date
    is_current: bool = True
    superseded_on: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    # False until the notifier planned this row's alerts (rows that never alert start true)
    planned: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class QuietDeadlineSet(SQLModel, table=True):
    """A subject's quiet deadlines, packed; ``is_current`` marks the newest set of a subject.

    Two thirds of all deadlines are quiet and most of them never change; one row per
    subject instead of one per deadline is what a national check writes and compares.
    ``deadlines`` is a JSON list with one list per deadline, by rule (``models.quiet.pack``).
    """

    __tablename__ = "quiet_deadline_set"
    __table_args__ = (
        Index(
            "uq_quiet_deadline_set_current",
            "provider_id",
            "subject_kind",
            "subject",
            unique=True,
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64)
    subject_kind: str = Field(max_length=16)
    subject: str = Field(max_length=200)
    deadlines: str = Field(sa_type=Text)  # JSON: one list per deadline
    fingerprint: str = Field(max_length=64)
    evaluated_on: date
    is_current: bool = True
    superseded_on: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)


class DeadlineCount(SQLModel, table=True):
    """How many current deadline rows a provider has per status and pack (kept in step)."""

    __tablename__ = "deadline_status_count"

    provider_id: str = Field(primary_key=True, max_length=64)
    status: str = Field(primary_key=True, max_length=32)
    pack_id: str = Field(primary_key=True, max_length=64)
    n: int = 0


class Alert(SQLModel, table=True):
    """One stage of one deadline for one target (a recipient's Apprise URL)."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("dedup_key", "target_key", name="uq_alert_dedup_target"),
        Index("ix_alert_status_next", "status", "next_attempt_at"),
        Index("ix_alert_target_status", "target_key", "status"),
        Index("ix_alert_provider_status", "provider_id", "status"),
        Index("ix_alert_rule_subject", "rule", "subject", "created_at"),  # outages
    )

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=400, index=True)
    provider_id: str = Field(max_length=64)
    subject_kind: str = Field(max_length=16)
    subject: str = Field(max_length=200)
    rule: str = Field(max_length=64)
    due_on: date | None = None
    stage: str = Field(max_length=40)
    target_key: str = Field(max_length=200)
    recipient_key: str = Field(max_length=140)
    role: str = Field(max_length=16)
    target_label: str = Field(max_length=600)  # masked URL, never a secret
    language: str = Field(max_length=8)
    urgent: bool = False
    item: str = Field(sa_type=Text)  # the MessageItem as JSON: a retry renders the same text
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_attempt_id: int | None = None
    operations_notified: bool = False
    created_on: date
    created_at: datetime = Field(sa_type=UTCDateTime)


class DeliveryAttempt(SQLModel, table=True):
    """One try to deliver one digest to one target; written as ``sending`` first."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    target_key: str = Field(max_length=200, index=True)
    target_label: str = Field(max_length=600)
    status: str = Field(default="sending", max_length=16)  # sending, sent, failed
    alert_ids: str = Field(default="[]", sa_type=Text)  # JSON list of alert ids
    services: str = Field(default="[]", sa_type=Text)  # JSON: [{"service", "ok"}]
    error: str | None = Field(default=None, sa_type=Text)
    log: str = Field(default="", sa_type=Text)  # Apprise's log lines, masked
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Acknowledgement(SQLModel, table=True):
    """An acknowledgement (``ack``) or a silence (``silence``) of one subject and rule."""

    __tablename__ = "acknowledgement"
    __table_args__ = (Index("ix_acknowledgement_subject_rule", "subject", "rule"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    provider_id: str | None = Field(default=None, max_length=64)
    subject: str = Field(max_length=200)
    rule: str = Field(max_length=64)
    reason: str = Field(max_length=1000)
    by: str = Field(default="", max_length=200)
    until_on: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=200)  # unsilence: who, and why
    revoke_reason: str | None = Field(default=None, max_length=1000)
