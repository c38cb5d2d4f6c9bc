"""Per-domain pacing: each delivery row's receiving-domain group, fixed at the snapshot,
and the index a per-group claim walks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("pacing_group", sa.String(length=40), server_default="other", nullable=False))
        batch.create_index("ix_deliveries_group_due", ["issue_id", "pacing_group", "status", "next_attempt_at"],
                           unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_group_due")
        batch.drop_column("pacing_group")
