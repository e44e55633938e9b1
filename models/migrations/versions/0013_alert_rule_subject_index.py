"""A provider's outages are found by rule and subject: ``ix_alert_rule_subject``.

Every check asks when each provider's current outage began (its first SYNC-FAILED row
after its last SYNC-RESOLVED row), once per provider; without this index each question
read the whole ledger.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alert_rule_subject", "alert", ["rule", "subject", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_rule_subject", table_name="alert")
