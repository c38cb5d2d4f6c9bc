"""The welcome mail: editors' settings (one row) and the per-subscriber welcome ledger.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WELCOME_STATUSES = "'pending', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'skipped', 'empty'"


def upgrade() -> None:
    op.create_table(
        "welcome_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("intro", sa.Text(), nullable=False),
        sa.Column("catchup_days", sa.Integer(), nullable=False),
        sa.Column("counts_as_sent", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_welcome_settings")),
    )
    op.create_table(
        "welcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("source_issue_id", sa.Integer(), nullable=True),
        sa.Column("comparison_ids", sa.Text(), nullable=False),
        sa.Column("applied_issue_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(f"status IN ({WELCOME_STATUSES})", name=op.f("ck_welcomes_status")),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_welcomes_subscriber_id_subscribers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_issue_id"], ["issues.id"],
                                name=op.f("fk_welcomes_source_issue_id_issues"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["applied_issue_id"], ["issues.id"],
                                name=op.f("fk_welcomes_applied_issue_id_issues"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_welcomes")),
        sa.UniqueConstraint("subscriber_id", name=op.f("uq_welcomes_subscriber_id")),
    )
    op.create_index("ix_welcomes_due", "welcomes", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_welcomes_due", table_name="welcomes")
    op.drop_table("welcomes")
    op.drop_table("welcome_settings")
