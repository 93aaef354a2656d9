"""documents.archive_*: where a document's searchable PDF is archived (--archive) and whether that copy is current

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = ("archive_url", "archive_name", "archive_rev", "archived_rev", "archived_at", "archived_partial",
            "archive_error", "archive_next_at")


def upgrade() -> None:
    # ADD COLUMN on SQLite too (a batch copy of the table would lose what hangs on it); all nullable or with a
    # server default, so existing rows need no rewrite
    op.add_column("documents", sa.Column("archive_url", sa.Text(), nullable=True))
    op.add_column("documents", sa.Column("archive_name", sa.Text(), nullable=True))
    op.add_column("documents", sa.Column("archive_rev", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("documents", sa.Column("archived_rev", sa.Integer(), nullable=True))
    op.add_column("documents", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("documents", sa.Column("archived_partial", sa.Boolean(), nullable=True))
    op.add_column("documents", sa.Column("archive_error", sa.Text(), nullable=True))
    op.add_column("documents", sa.Column("archive_next_at", sa.DateTime(timezone=True), nullable=True))
    # the archiver's question, "which finished documents have an archive copy to write?", asked every sweep
    op.create_index("ix_documents_archive_due", "documents", ["archive_url", "status"])


def downgrade() -> None:
    op.drop_index("ix_documents_archive_due", table_name="documents")
    for name in reversed(_COLUMNS):
        op.drop_column("documents", name)
