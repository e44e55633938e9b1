"""Notifications plan from what changed: a ``planned`` mark on deadline rows, and indexes.

``deadline_record.planned`` is false for a current row the notifier has not yet planned
alerts for; the partial index finds those rows without reading the others. Existing
rows start unplanned, so the first notification run after the upgrade plans every
current deadline once (what every run did before). ``ix_deadline_record_current_due``
serves the warning window (``open``/``due_soon`` rows due within the longest lead time)
and the daily breach reminder (``breached`` rows). ``ix_deadline_record_provider_current``
goes: the partial unique index on the current rows serves those queries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _current_unique(sqlite_where: str) -> None:
    op.create_index(
        "uq_deadline_record_current",
        "deadline_record",
        ["provider_id", "subject_kind", "subject", "rule"],
        unique=True,
        sqlite_where=sa.text(sqlite_where),
        postgresql_where=sa.text("is_current"),
    )


def upgrade() -> None:
    with op.batch_alter_table("deadline_record") as batch:
        batch.add_column(
            sa.Column("planned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # SQLite uses a partial index only for queries that repeat its WHERE term as written;
    # SQLAlchemy writes a boolean test as "is_current = 1" there, so the indexes say so too
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("uq_deadline_record_current", table_name="deadline_record")
        _current_unique("is_current = 1")
    op.create_index(
        "ix_deadline_record_unplanned",
        "deadline_record",
        ["provider_id"],
        sqlite_where=sa.text("is_current = 1 AND planned = 0"),
        postgresql_where=sa.text("is_current AND NOT planned"),
    )
    # the partial unique index on (provider, kind, subject, rule) WHERE is_current serves
    # every "this provider's current rows" query; one index less to keep on each insert
    op.drop_index("ix_deadline_record_provider_current", table_name="deadline_record")
    op.create_index(
        "ix_deadline_record_current_due",
        "deadline_record",
        ["status", "due_on"],
        sqlite_where=sa.text("is_current = 1"),
        postgresql_where=sa.text("is_current"),
    )


def downgrade() -> None:
    op.drop_index("ix_deadline_record_current_due", table_name="deadline_record")
    op.create_index(
        "ix_deadline_record_provider_current", "deadline_record", ["provider_id", "is_current"]
    )
    op.drop_index("ix_deadline_record_unplanned", table_name="deadline_record")
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("uq_deadline_record_current", table_name="deadline_record")
        _current_unique("is_current")
    with op.batch_alter_table("deadline_record") as batch:
        batch.drop_column("planned")
