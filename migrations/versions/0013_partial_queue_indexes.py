"""The deliveries queue's indexes hold only the rows still owed: the due rows by
group, the rows in a worker's hands by lease. A copy's claim then writes three
indexes and its outcome two, instead of four each, and finished issues' rows no
longer fill them.

Building them reads the table once (a write lock while it runs: seconds for a
million rows); run it between sends.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WAITING = sa.text("status IN ('pending', 'deferred')")
SENDING = sa.text("status IN ('sending')")


def upgrade() -> None:
    op.create_index("ix_deliveries_waiting", "deliveries", ["issue_id", "pacing_group", "next_attempt_at"],
                    postgresql_where=WAITING, sqlite_where=WAITING)
    op.create_index("ix_deliveries_sending", "deliveries", ["issue_id", "lease_expires_at"],
                    postgresql_where=SENDING, sqlite_where=SENDING)
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_index("ix_deliveries_group_due", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_due", "deliveries", ["issue_id", "status", "next_attempt_at"])
    op.create_index("ix_deliveries_group_due", "deliveries", ["issue_id", "pacing_group", "status", "next_attempt_at"])
    op.drop_index("ix_deliveries_sending", table_name="deliveries")
    op.drop_index("ix_deliveries_waiting", table_name="deliveries")
