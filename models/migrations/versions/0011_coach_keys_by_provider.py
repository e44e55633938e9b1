"""Coach recipient keys scoped by provider: ``coach:ID`` becomes ``coach:PROVIDER/ID``.

A coach id is the provider's own (``c-001`` at two providers is two people), so the
ledger's coach rows name their provider. Each row already carries the provider of its
alert, so pending and failed alerts keep their coach: after the settings are rewritten
to ``[recipients.coaches.PROVIDER."ID"]`` they are delivered as before; a row whose
provider has no such coach configured fails visibly ("recipient no longer configured")
instead of reaching another provider's coach.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREFIX = len("coach:") + 1  # SQL substr counts from 1


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE alert SET "
            f"recipient_key = 'coach:' || provider_id || '/' || substr(recipient_key, {_PREFIX}), "
            f"target_key = 'coach:' || provider_id || '/' || substr(target_key, {_PREFIX}) "
            "WHERE role = 'coach' AND recipient_key LIKE 'coach:%'"
        )
    )


def downgrade() -> None:
    start = f"length(provider_id) + {_PREFIX + 1}"  # past "coach:PROVIDER/"
    op.execute(
        sa.text(
            "UPDATE alert SET "
            f"recipient_key = 'coach:' || substr(recipient_key, {start}), "
            f"target_key = 'coach:' || substr(target_key, {start}) "
            "WHERE role = 'coach' AND recipient_key LIKE 'coach:%/%'"
        )
    )
