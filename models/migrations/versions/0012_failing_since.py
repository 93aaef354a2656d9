"""page_ranges.failing_since: when a range's current run of provider outages (429, 5xx, timeouts) began, so
an outage shorter than PAGEMILL_RETRY_WINDOW_S does not spend its attempts

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("page_ranges", sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("page_ranges", "failing_since")
