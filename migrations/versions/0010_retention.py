"""Delivery retention: per-issue, per-variant counts of the rows rolled up and deleted;
and an index for the confirmation relay's scan of recent requests.

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

DELIVERY_STATUSES = "'pending', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'skipped', 'empty'"


def upgrade() -> None:
    op.create_table(
        "delivery_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(f"status IN ({DELIVERY_STATUSES})", name=op.f("ck_delivery_rollups_status")),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name=op.f("fk_delivery_rollups_issue_id_issues"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_rollups")),
        sa.UniqueConstraint("issue_id", "variant", "status", name=op.f("uq_delivery_rollups_issue_id_variant_status")),
    )
    op.create_index("ix_subscribers_confirm_mail_requested_at", "subscribers", ["confirm_mail_requested_at"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_confirm_mail_requested_at", table_name="subscribers")
    op.drop_table("delivery_rollups")
