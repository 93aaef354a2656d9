"""pages.words: the local engine's word boxes, kept so a searchable PDF can be written without OCR again

Revision ID: 0009
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one JSON value per page (worker/layout/word_boxes.py): plain JSON, not jsonb, so PostgreSQL keeps the
    # compact text as written and compresses it (TOAST) instead of a larger binary form
    # ADD COLUMN on SQLite too (a batch copy of the table would drop its full-text triggers)
    op.add_column("pages", sa.Column("words", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("pages", "words")
