"""Deliveries count the throttles (421, 4.7.x) each copy met: a throttle hands its
attempt back, so nothing else keeps it once the copy is sent.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds it without rewriting the table.
    op.add_column("deliveries", sa.Column("throttles", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("throttles")
