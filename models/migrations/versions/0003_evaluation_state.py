"""Incremental evaluation: each provider's evaluation state and per-case recheck days.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_state",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("engine_key", sa.String(length=64), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("cases_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("provider_id"),
    )
    op.create_table(
        "case_recheck",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("case_ref", sa.String(length=64), nullable=False),
        sa.Column("recheck_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("provider_id", "case_ref"),
    )
    op.create_index("ix_case_recheck_due", "case_recheck", ["provider_id", "recheck_on"])


def downgrade() -> None:
    op.drop_index("ix_case_recheck_due", table_name="case_recheck")
    op.drop_table("case_recheck")
    op.drop_table("evaluation_state")
