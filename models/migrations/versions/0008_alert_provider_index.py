"""Undelivered alerts are found by provider: ``ix_alert_provider_status``.

A notification run for one provider (the ad-hoc check's) reads that provider's
undelivered alerts. Through the status index alone it read every provider's, so its cost
followed the whole country's ledger instead of the provider's.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alert_provider_status", "alert", ["provider_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_alert_provider_status", table_name="alert")
