"""Feedback inbox: verified bounce mails and webhook events, stored before they are
answered and applied by a worker in sets.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SOURCES = "'smtp', 'imap', 'ses', 'mailgun', 'postmark', 'sendgrid'"


def upgrade() -> None:
    op.create_table(
        "feedback_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("mail", sa.LargeBinary(), nullable=False),
        sa.Column("addresses", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"source IN ({SOURCES})", name=op.f("ck_feedback_inbox_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_inbox")),
    )


def downgrade() -> None:
    op.drop_table("feedback_inbox")
