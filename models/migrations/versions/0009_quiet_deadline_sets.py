"""Quiet deadlines packed one row per subject: ``quiet_deadline_set``.

Of a national first check's 1.1 million deadline rows, 720 000 were quiet (``ok``,
``waiting``, ``not_applicable``, ``unconfigured``): they never alert, and most never
change. They are now kept as one row per subject with the same history (a changed set
is a new row, the previous one not current), so a check writes and compares a row a
case for them instead of about eleven.

No stored row is rewritten here. A subject's quiet rows already in ``deadline_record``
stay current there and are read as before; the next evaluation of the subject retires
them into its set (``models.deadlines.store_deadlines``), so a deadline is
current in one table or the other, never in both.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quiet_deadline_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("deadlines", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("superseded_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_quiet_deadline_set_current",
        "quiet_deadline_set",
        ["provider_id", "subject_kind", "subject"],
        unique=True,
        sqlite_where=sa.text("is_current = 1"),
        postgresql_where=sa.text("is_current"),
    )


#: A set's deadline lists, in order (as models.quiet.pack wrote them at this revision).
_ITEM = (
    "rule", "status", "due_on", "event_on", "days_left", "details", "explanation", "pack_id",
    "provisional", "office_id", "coach_id", "link", "language", "escalate", "count", "limit",
)  # fmt: skip


def _fingerprint(item: dict[str, object]) -> str:
    """``models.deadlines.fingerprint`` of a deadline read from a set (orjson writes
    a date and its ISO text, a tuple and a list, a StrEnum and its value alike)."""
    data = [item[name] for name in ("status", "due_on", "event_on", "count", "limit")]
    data += [item[name] for name in ("details", "coach_id", "office_id", "escalate", "link")]
    return hashlib.sha256(orjson.dumps(data)).hexdigest()


def _json(value: object) -> str:
    return orjson.dumps(value).decode() if value else "[]"


def downgrade() -> None:
    """Every set's deadlines (history included) go back to ``deadline_record`` as single
    rows, then the sets are dropped: nothing is lost."""
    bind = op.get_bind()
    sets = sa.table(
        "quiet_deadline_set",
        *(sa.column(name) for name in ("provider_id", "subject_kind", "subject", "deadlines")),
        sa.column("evaluated_on", sa.Date()),
        sa.column("is_current", sa.Boolean()),
        sa.column("superseded_on", sa.Date()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    names = (
        "provider_id", "subject_kind", "subject", "rule", "status", "due_on", "event_on",
        "days_left", "details", "explanation", "pack_id", "provisional", "office_id",
        "coach_id", "link", "language", "escalate", "count", "limit_value", "fingerprint",
        "evaluated_on", "is_current", "superseded_on", "created_at", "planned",
    )  # fmt: skip
    dated = {"due_on", "event_on", "evaluated_on", "superseded_on"}
    rows = sa.table(
        "deadline_record",
        *(sa.column(n, sa.Date() if n in dated else None) for n in names if n != "created_at"),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    batch: list[dict[str, object]] = []
    for stored in bind.execute(sa.select(sets)).mappings():
        for values in orjson.loads(stored["deadlines"]):
            item = dict(zip(_ITEM, values, strict=True))
            batch.append({
                "provider_id": stored["provider_id"],
                "subject_kind": stored["subject_kind"],
                "subject": stored["subject"],
                "rule": item["rule"],
                "status": item["status"],
                "due_on": _day(item["due_on"]),
                "event_on": _day(item["event_on"]),
                "days_left": item["days_left"],
                "details": _json(item["details"]),
                "explanation": _json(item["explanation"]),
                "pack_id": item["pack_id"],
                "provisional": _json(item["provisional"]),
                "office_id": item["office_id"],
                "coach_id": item["coach_id"],
                "link": item["link"],
                "language": item["language"],
                "escalate": bool(item["escalate"]),
                "count": item["count"],
                "limit_value": item["limit"],
                "fingerprint": _fingerprint(item),
                "evaluated_on": stored["evaluated_on"],
                "is_current": stored["is_current"],
                "superseded_on": stored["superseded_on"],
                "created_at": stored["created_at"],
                "planned": True,  # quiet deadlines never alert
            })  # fmt: skip
            if len(batch) >= 5000:
                bind.execute(rows.insert(), batch)
                batch.clear()
    if batch:
        bind.execute(rows.insert(), batch)
    op.drop_index("uq_quiet_deadline_set_current", table_name="quiet_deadline_set")
    op.drop_table("quiet_deadline_set")


def _day(text: object) -> date | None:
    return date.fromisoformat(text) if isinstance(text, str) else None
