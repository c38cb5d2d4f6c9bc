"""Editor session generations; backoff for the confirmation outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editors") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("confirm_mail_attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("confirm_mail_retry_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("confirm_mail_retry_at")
        batch.drop_column("confirm_mail_attempts")
    with op.batch_alter_table("editors") as batch:
        batch.drop_column("session_generation")
