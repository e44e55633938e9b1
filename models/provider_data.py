"""Tables for what providers send: cases, their revisions, audits, coaches, rejects, runs.

Every item's raw JSON is kept (canonical text: sorted keys, no spaces) with a SHA-256
``content_hash`` of it, so an unchanged item is recognised with one indexed comparison
and nothing a provider sent is ever lost; a case's raw JSON is kept once, in its
revision, which the current row points to:

- ``provider``          one row per configured provider, with the sync watermarks
                        (greatest stored ``updated_at`` per collection)
- ``provider_case``     the current state of each case: typed columns for queries and
                        ``revision_id``, the revision holding its raw JSON
- ``case_revision``     every distinct payload ever received for a case, and when
- ``audit``/``audit_finding``  Kela's audits of the provider and their findings
- ``coach``             the provider's current staff list (replaced on every sync)
- ``rejected_payload``  invalid items: raw text, every error, when and in which run
- ``sync_run``          one row per provider sync, with its counts and error

Timestamps are aware and stored as UTC (:class:`models.db.UTCDateTime`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime

#: A case is *closed* (no re-evaluation needed) this many days after its feedback
#: report was sent for an ended service; see ``Case.closed_on``.
CLOSE_AFTER_FEEDBACK_DAYS = 60


def _fk(target: str) -> Any:
    return Column(String(64), ForeignKey(target, ondelete="CASCADE"), nullable=False)


class Provider(SQLModel, table=True):
    """A configured provider and where its incremental sync stands."""

    __tablename__ = "provider"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    cases_watermark: datetime | None = Field(default=None, sa_type=UTCDateTime)
    audits_watermark: datetime | None = Field(default=None, sa_type=UTCDateTime)
    staff_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Case(SQLModel, table=True):
    """The current state of one case (the newest payload received)."""

    __tablename__ = "provider_case"
    __table_args__ = (
        UniqueConstraint("provider_id", "case_ref", name="uq_provider_case_ref"),
        Index("ix_provider_case_open", "provider_id", "closed_on"),
        Index("ix_provider_case_changed", "provider_id", "last_changed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(sa_column=_fk("provider.id"))
    case_ref: str = Field(max_length=64)
    service: str = Field(max_length=32)
    office_id: str = Field(max_length=64)
    coach_id: str = Field(max_length=64)
    language: str = Field(max_length=8)
    decision_received_on: date
    first_meeting_on: date | None = None
    workplace_phase_started_on: date | None = None
    ended_on: date | None = None
    end_reason: str | None = Field(default=None, max_length=32)
    feedback_sent_on: date | None = None
    closed_on: date | None = None  # feedback_sent_on + CLOSE_AFTER_FEEDBACK_DAYS once ended
    # the revision holding this state's raw JSON (kept once, there)
    revision_id: int = Field(
        sa_column=Column(
            ForeignKey("case_revision.id", ondelete="CASCADE", name="fk_provider_case_revision"),
            nullable=False,
        )
    )
    content_hash: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_changed_at: datetime = Field(sa_type=UTCDateTime)


class CaseRevision(SQLModel, table=True):
    """One distinct payload received for a case: nothing overwritten is lost."""

    __tablename__ = "case_revision"
    __table_args__ = (
        UniqueConstraint("provider_id", "case_ref", "content_hash", name="uq_case_revision"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(sa_column=_fk("provider.id"))
    case_ref: str = Field(max_length=64)
    content_hash: str = Field(max_length=64)
    raw: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)


class Audit(SQLModel, table=True):
    """Kela's audit of the provider (or one office), current state plus raw JSON."""

    __tablename__ = "audit"
    __table_args__ = (UniqueConstraint("provider_id", "audit_id", name="uq_audit_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(sa_column=_fk("provider.id"))
    audit_id: str = Field(max_length=64)
    office_id: str | None = Field(default=None, max_length=64)
    visit_on: date
    report_received_on: date | None = None
    response_sent_on: date | None = None
    raw: str = Field(sa_type=Text)
    content_hash: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_changed_at: datetime = Field(sa_type=UTCDateTime)


class Finding(SQLModel, table=True):
    """One finding of an audit (rewritten whenever its audit changes)."""

    __tablename__ = "audit_finding"
    __table_args__ = (
        UniqueConstraint("provider_id", "audit_id", "finding_id", name="uq_audit_finding"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(sa_column=_fk("provider.id"))
    audit_id: str = Field(max_length=64)
    finding_id: str = Field(max_length=64)
    severity: str = Field(max_length=32)
    area: str = Field(max_length=32)
    safety_related: bool = False
    corrected_on: date | None = None


class Coach(SQLModel, table=True):
    """A coach in the provider's current staff list."""

    __tablename__ = "coach"
    __table_args__ = (UniqueConstraint("provider_id", "coach_id", name="uq_coach_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(sa_column=_fk("provider.id"))
    coach_id: str = Field(max_length=64)
    office_id: str = Field(max_length=64)
    active: bool = True
    raw: str = Field(sa_type=Text)
    content_hash: str = Field(max_length=64)
    synced_at: datetime = Field(sa_type=UTCDateTime)


class SyncRun(SQLModel, table=True):
    """One sync of one provider: when, how it ended, what it counted."""

    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_provider_started", "provider_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(sa_column=_fk("provider.id"))
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=16)  # running | succeeded | failed
    full: bool = False
    fetched: int = 0
    stored: int = 0
    unchanged: int = 0
    rejected: int = 0
    error: str | None = Field(default=None, sa_type=Text)


class RejectedPayload(SQLModel, table=True):
    """An invalid item, kept whole with every validation error.

    The same invalid payload sent again is not stored twice (unique content hash).
    """

    __tablename__ = "rejected_payload"
    __table_args__ = (
        UniqueConstraint("provider_id", "kind", "content_hash", name="uq_rejected_payload"),
        Index("ix_rejected_payload_received", "provider_id", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(sa_column=_fk("provider.id"))
    kind: str = Field(max_length=16)  # case | audit | coach
    ref: str | None = Field(default=None, max_length=200)
    raw: str = Field(sa_type=Text)
    content_hash: str = Field(max_length=64)
    errors: list[str] = Field(default_factory=list, sa_type=JSON)
    received_at: datetime = Field(sa_type=UTCDateTime)
    sync_run_id: int | None = Field(
        default=None,
        sa_column=Column(ForeignKey("sync_run.id", ondelete="SET NULL"), nullable=True),
    )
