"""Readers: counted comparison clicks, categories per reader and per-category issue variants
(with the `empty` delivery state).

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

DELIVERY_STATUSES = "'pending', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'skipped'"


def _delivery_statuses(values: str) -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(op.f("ck_deliveries_status"), type_="check")
        batch.create_check_constraint(op.f("ck_deliveries_status"), sa.text(f"status IN ({values})"))


def upgrade() -> None:
    op.create_table(
        "clicks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("comparison_id", sa.Integer(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("scanner", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["comparison_id"], ["comparisons.id"],
                                name=op.f("fk_clicks_comparison_id_comparisons"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name=op.f("fk_clicks_issue_id_issues"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clicks")),
    )
    op.create_index("ix_clicks_burst", "clicks", ["issue_id", "source", "clicked_at"], unique=False)
    op.create_table(
        "issue_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=False),
        sa.Column("empty", sa.Boolean(), nullable=False),
        sa.Column("rendered_subject", sa.String(length=300), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name=op.f("fk_issue_variants_issue_id_issues"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_variants")),
        sa.UniqueConstraint("issue_id", "key", name=op.f("uq_issue_variants_issue_id_key")),
    )
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("categories", sa.String(length=1000), server_default="", nullable=False))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("variant", sa.String(length=1000), server_default="", nullable=False))
    _delivery_statuses(DELIVERY_STATUSES + ", 'empty'")


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'skipped' WHERE status = 'empty'")
    _delivery_statuses(DELIVERY_STATUSES)
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("variant")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("categories")
    op.drop_table("issue_variants")
    op.drop_index("ix_clicks_burst", table_name="clicks")
    op.drop_table("clicks")
