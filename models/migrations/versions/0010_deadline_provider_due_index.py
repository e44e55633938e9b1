"""One provider's dated current deadlines: ``ix_deadline_record_current_provider_due``.

Each check plans its provider's alerts and reads the provider's current rows due within
the warning window. Through ``uq_deadline_record_current`` it walked all of the
provider's current rows to find the few in the window (bench/HISTORY.md, "figures that
were in the code"). Only dated rows are in it: a
query needs a ``due_on`` comparison to use it, so it never competes with
``ix_deadline_record_unplanned`` for a provider's unplanned rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_deadline_record_current_provider_due",
        "deadline_record",
        ["provider_id", "due_on"],
        sqlite_where=sa.text("is_current = 1 AND due_on IS NOT NULL"),
        postgresql_where=sa.text("is_current AND due_on IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deadline_record_current_provider_due", table_name="deadline_record")
