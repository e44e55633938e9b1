"""Undelivered alerts are found by provider: ``ix_alert_provider_status``.

The scheduled check writes each provider's due alerts ahead of the run's notify, in the
provider's worker; planning one provider reads that provider's undelivered alerts. The
status index alone made every provider's plan read every provider's undelivered alerts,
which the run itself keeps adding to: a cost that grew with the square of the providers.

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
