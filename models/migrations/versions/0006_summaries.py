"""Provider summaries without scans: current deadline counts kept in step, cases by change.

- ``deadline_status_count``: current deadline rows per (provider, status, pack), changed
  by ``store_deadlines`` in the same transaction as the rows; filled here from the rows.
  A provider's summary reads a dozen rows instead of counting thousands.
- ``ix_provider_case_changed``: every provider check asks for the newest
  ``last_changed_at`` and the cases changed since its last evaluation; without the index
  each question read all of the provider's cases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deadline_status_count",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("provider_id", "status", "pack_id"),
    )
    op.execute(
        "INSERT INTO deadline_status_count (provider_id, status, pack_id, n) "
        "SELECT provider_id, status, pack_id, count(*) FROM deadline_record "
        "WHERE is_current GROUP BY provider_id, status, pack_id"
    )
    op.create_index(
        "ix_provider_case_changed", "provider_case", ["provider_id", "last_changed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_provider_case_changed", table_name="provider_case")
    op.drop_table("deadline_status_count")
