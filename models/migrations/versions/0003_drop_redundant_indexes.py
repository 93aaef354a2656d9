"""drop the single-column document_id indexes of pages, images and page_ranges

Each is the leading column of a unique index on the same table ((document_id, page_index), (document_id, name),
(document_id, seq)), which serves the same lookups and the foreign keys' ON DELETE CASCADE. Every stored page
paid for one more index entry.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INDEXES = {"pages": "ix_pages_document_id", "images": "ix_images_document_id",
            "page_ranges": "ix_page_ranges_document_id"}


def upgrade() -> None:
    for table, index in _INDEXES.items():
        op.drop_index(index, table_name=table)


def downgrade() -> None:
    for table, index in _INDEXES.items():
        op.create_index(index, table, ["document_id"])
