"""an index on page_ranges (document_id, status)

After each range is stored, the worker asks whether any range of its document is still queued or running.
Without this index that question reads every pending range of the document (or every range), once per range:
quadratic in the size of a document (a 1000-range document read ~500 rows per check). With it, the first
matching index entry answers.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_page_ranges_document_status", "page_ranges", ["document_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_page_ranges_document_status", table_name="page_ranges")
