"""Who revoked an acknowledgement or silence, and why: ``revoked_by``, ``revoke_reason``.

Unsilence (from the Prefect UI or the command line) keeps the row and records who ended
it early and why, for the weekly report.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("acknowledgement") as batch:
        batch.add_column(sa.Column("revoked_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("revoke_reason", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acknowledgement") as batch:
        batch.drop_column("revoke_reason")
        batch.drop_column("revoked_by")
