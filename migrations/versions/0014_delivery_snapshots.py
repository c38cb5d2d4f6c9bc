"""The audience snapshot is taken in chunks: how far each issue's has come.

Issues that already have delivery rows (or rolled-up counts) were snapshotted in one
statement: their snapshot is complete (`upto` = `cursor` = 0).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_snapshots",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("upto", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name=op.f("fk_delivery_snapshots_issue_id_issues"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_delivery_snapshots")),
    )
    op.execute(
        "INSERT INTO delivery_snapshots (issue_id, upto, cursor, updated_at) "
        "SELECT id, 0, 0, CURRENT_TIMESTAMP FROM issues WHERE "
        "EXISTS (SELECT 1 FROM deliveries WHERE deliveries.issue_id = issues.id) "
        "OR EXISTS (SELECT 1 FROM delivery_rollups WHERE delivery_rollups.issue_id = issues.id)"
    )


def downgrade() -> None:
    op.drop_table("delivery_snapshots")
