"""A case's raw JSON is kept once: in its revision, which the current row points to.

``provider_case.raw`` held the same text as the case's newest ``case_revision`` row:
every payload was written twice (half the database at national scale). The current
row now keeps ``revision_id``; every distinct payload is still in ``case_revision``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_REVISION = (
    "r.provider_id = provider_case.provider_id AND r.case_ref = provider_case.case_ref "
    "AND r.content_hash = provider_case.content_hash"
)


def upgrade() -> None:
    # every current state has its revision (the sync always wrote both); make sure
    op.execute(
        "INSERT INTO case_revision (provider_id, case_ref, content_hash, raw, updated_at, "
        "received_at) SELECT provider_id, case_ref, content_hash, raw, updated_at, "
        "last_changed_at FROM provider_case WHERE NOT EXISTS "
        f"(SELECT 1 FROM case_revision r WHERE {_SAME_REVISION})"  # noqa: S608 - constant text
    )
    with op.batch_alter_table("provider_case") as batch:
        batch.add_column(sa.Column("revision_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE provider_case SET revision_id = "
        f"(SELECT r.id FROM case_revision r WHERE {_SAME_REVISION})"  # noqa: S608 - constant text
    )
    with op.batch_alter_table("provider_case") as batch:
        batch.alter_column("revision_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            "fk_provider_case_revision",
            "case_revision",
            ["revision_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.drop_column("raw")


def downgrade() -> None:
    with op.batch_alter_table("provider_case") as batch:
        batch.add_column(sa.Column("raw", sa.Text(), nullable=True))
    op.execute(
        "UPDATE provider_case SET raw = "
        "(SELECT r.raw FROM case_revision r WHERE r.id = provider_case.revision_id)"
    )
    with op.batch_alter_table("provider_case") as batch:
        batch.alter_column("raw", existing_type=sa.Text(), nullable=False)
        batch.drop_constraint("fk_provider_case_revision", type_="foreignkey")
        batch.drop_column("revision_id")
