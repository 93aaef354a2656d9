"""index pages.created_at, so `pagemill status`'s pages/s over the last minutes reads only those pages

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_pages_created_at", "pages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_pages_created_at", table_name="pages")
