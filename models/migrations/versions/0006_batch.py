"""Batch API mode and the budget: batch_jobs, batch_job_ranges, budget_spend; page_ranges.batch; usage.billing

A batch job is recorded before anything is sent (status `pending`), and each step towards the provider
(upload, create) is written before it is taken, so a process killed at any moment finds its jobs again.
`usage.billing` says which rate a row was billed at (sync, batch, annotated); earlier rows were synchronous.

Revision ID: 0006
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("provider_job_id", sa.String(200)),
        sa.Column("input_file_id", sa.String(200)),
        sa.Column("output_file_id", sa.String(200)),
        sa.Column("error_file_id", sa.String(200)),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("timeout_hours", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("input_bytes", sa.BigInteger(), nullable=False),
        sa.Column("completed_requests", sa.Integer(), nullable=False),
        sa.Column("succeeded_requests", sa.Integer(), nullable=False),
        sa.Column("failed_requests", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("error_code", sa.String(40)),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True)),
        sa.Column("collector", sa.String(200)),
        sa.Column("collect_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("collected_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_batch_jobs_status", "batch_jobs", ["status"])
    op.create_table(
        "batch_job_ranges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_job_id", sa.Integer(), sa.ForeignKey("batch_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("range_id", sa.Integer(), sa.ForeignKey("page_ranges.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("reserved_usd", sa.Float(), nullable=False),
        sa.Column("budget_keys", sa.JSON(), nullable=False),
        sa.UniqueConstraint("batch_job_id", "range_id"),
    )
    op.create_index("ix_batch_job_ranges_range_id", "batch_job_ranges", ["range_id"])
    op.create_table(
        "budget_spend",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("spent_usd", sa.Float(), nullable=False),
    )
    # plain ADD COLUMN (a constant default is allowed on SQLite): a batch_alter_table would rebuild the tables
    # under the views of 0002
    op.add_column("page_ranges", sa.Column("batch", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("usage", sa.Column("billing", sa.String(20), nullable=False, server_default="sync"))


def downgrade() -> None:
    op.drop_column("usage", "billing")
    op.drop_column("page_ranges", "batch")
    op.drop_table("budget_spend")
    op.drop_index("ix_batch_job_ranges_range_id", table_name="batch_job_ranges")
    op.drop_table("batch_job_ranges")
    op.drop_index("ix_batch_jobs_status", table_name="batch_jobs")
    op.drop_table("batch_jobs")
