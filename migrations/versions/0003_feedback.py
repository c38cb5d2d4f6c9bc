"""Feedback after the relay: events, inbound mail nobody understood, and `complained`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "'pending', 'confirmed', 'unsubscribed', 'bounced'"
SOURCES = "'smtp', 'imap', 'ses', 'mailgun', 'postmark', 'sendgrid'"


def _subscriber_statuses(values: str) -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_constraint(op.f("ck_subscribers_status"), type_="check")
        batch.create_check_constraint(op.f("ck_subscribers_status"), sa.text(f"status IN ({values})"))


def upgrade() -> None:
    _subscriber_statuses(STATUSES + ", 'complained'")
    op.create_table(
        "feedback_events",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("delivery_id", BIGINT, nullable=True),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('hard_bounce', 'soft_bounce', 'complaint', 'unsubscribe')",
                           name=op.f("ck_feedback_events_kind")),
        sa.CheckConstraint(f"source IN ({SOURCES})", name=op.f("ck_feedback_events_source")),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], name=op.f("fk_feedback_events_delivery_id_deliveries"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name=op.f("fk_feedback_events_issue_id_issues"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_feedback_events_subscriber_id_subscribers"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
        sa.UniqueConstraint("delivery_id", "kind", name=op.f("uq_feedback_events_delivery_id_kind")),
        sa.UniqueConstraint("source", "event_key", name=op.f("uq_feedback_events_source_event_key")),
    )
    with op.batch_alter_table("feedback_events") as batch:
        batch.create_index(batch.f("ix_feedback_events_issue_id"), ["issue_id"], unique=False)
        batch.create_index(batch.f("ix_feedback_events_received_at"), ["received_at"], unique=False)
        batch.create_index(batch.f("ix_feedback_events_subscriber_id"), ["subscriber_id"], unique=False)
    op.create_table(
        "feedback_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("disposition", sa.String(20), nullable=False),
        sa.Column("envelope_to", sa.String(254), nullable=False),
        sa.Column("sender", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("disposition IN ('unparsed', 'ignored')", name=op.f("ck_feedback_messages_disposition")),
        sa.CheckConstraint(f"source IN ({SOURCES})", name=op.f("ck_feedback_messages_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_messages")),
    )
    with op.batch_alter_table("feedback_messages") as batch:
        batch.create_index(batch.f("ix_feedback_messages_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_table("feedback_messages")
    op.drop_table("feedback_events")
    op.execute(sa.text("UPDATE subscribers SET status = 'unsubscribed' WHERE status = 'complained'"))
    _subscriber_statuses(STATUSES)
