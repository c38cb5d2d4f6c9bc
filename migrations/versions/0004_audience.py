"""The audience: imports with their stated consent, erasure records, manage tokens,
and the indexes of the subscribers page.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _backfill_manage_tokens() -> None:
    """A random token per existing subscriber, made here in Python: the database's
    own random() is not fit for a token that can erase someone."""
    conn = op.get_bind()
    subscribers = sa.table("subscribers", sa.column("id", sa.Integer), sa.column("manage_token", sa.String))
    ids = [row.id for row in conn.execute(sa.select(subscribers.c.id).where(subscribers.c.manage_token.is_(None)))]
    update = sa.update(subscribers).where(subscribers.c.id == sa.bindparam("b_id")).values(
        manage_token=sa.bindparam("b_token"))
    for start in range(0, len(ids), 5000):
        conn.execute(update, [{"b_id": i, "b_token": secrets.token_urlsafe(32)} for i in ids[start:start + 5000]])


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_erasures_email_hash")),
    )
    op.create_table(
        "subscriber_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("imported_by", sa.String(length=254), nullable=False),
        sa.Column("consent_source", sa.String(length=500), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("done_rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name=op.f("ck_subscriber_imports_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_imports")),
    )
    # An erased subscriber's delivery rows stay, anonymised, so issue counts stay right.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("subscriber_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.drop_constraint(batch_op.f("fk_deliveries_subscriber_id_subscribers"), type_="foreignkey")
        batch_op.create_foreign_key(batch_op.f("fk_deliveries_subscriber_id_subscribers"), "subscribers",
                                    ["subscriber_id"], ["id"], ondelete="SET NULL")

    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manage_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("consent_source", sa.String(length=500), server_default="", nullable=False))
        batch_op.add_column(sa.Column("consent_at", sa.DateTime(), nullable=True))
    _backfill_manage_tokens()
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.alter_column("manage_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_subscribers_confirmed_at"), ["confirmed_at"], unique=False)
        batch_op.create_index("ix_subscribers_status_id", ["status", "id"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_subscribers_manage_token"), ["manage_token"])
        batch_op.create_foreign_key(batch_op.f("fk_subscribers_import_id_subscriber_imports"), "subscriber_imports",
                                    ["import_id"], ["id"], ondelete="SET NULL")
    if op.get_bind().dialect.name == "postgresql":
        # Prefix search (`email_key LIKE 'abc%'`) whatever the database's collation;
        # SQLite has no operator classes, and its dev-sized lists need none.
        op.create_index("ix_subscribers_email_key_prefix", "subscribers",
                        [sa.text("email_key varchar_pattern_ops")])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_subscribers_email_key_prefix", table_name="subscribers")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_subscribers_import_id_subscriber_imports"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_subscribers_manage_token"), type_="unique")
        batch_op.drop_index("ix_subscribers_status_id")
        batch_op.drop_index(batch_op.f("ix_subscribers_confirmed_at"))
        batch_op.drop_column("consent_at")
        batch_op.drop_column("consent_source")
        batch_op.drop_column("import_id")
        batch_op.drop_column("manage_token")

    # Rows anonymised by an erasure cannot point at anyone again: they go.
    op.execute("DELETE FROM deliveries WHERE subscriber_id IS NULL")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_deliveries_subscriber_id_subscribers"), type_="foreignkey")
        batch_op.create_foreign_key(batch_op.f("fk_deliveries_subscriber_id_subscribers"), "subscribers",
                                    ["subscriber_id"], ["id"], ondelete="CASCADE")
        batch_op.alter_column("subscriber_id", existing_type=sa.INTEGER(), nullable=False)

    op.drop_table("subscriber_imports")
    op.drop_table("erasures")
