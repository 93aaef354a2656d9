"""webhooks: the outbox of events, subscriptions and deliveries (pagemill webhooks)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("msg_id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("collection", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fanned_out", sa.Boolean(), nullable=False),
        _ts("created_at", False),
    )
    op.create_index("ix_webhook_events_unsent", "webhook_events", ["fanned_out", "id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        _ts("previous_until"),
        sa.Column("events", sa.JSON(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("collection", sa.Text(), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("after_event_id", sa.Integer(), nullable=False),
        _ts("created_at", False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subscription_id", sa.Integer(), sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sender", sa.String(200), nullable=True),
        _ts("lease_until"),
        _ts("created_at", False),
        _ts("first_attempt_at"),
        _ts("last_attempt_at"),
        _ts("delivered_at"),
        sa.UniqueConstraint("event_id", "subscription_id"),
    )
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_subject", "webhook_deliveries", ["subscription_id", "subject", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_subject", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_webhook_events_unsent", table_name="webhook_events")
    op.drop_table("webhook_events")
