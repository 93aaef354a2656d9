"""page corrections with their history, and "looks right" marks (pagemill ui)

Revision ID: 0008
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None


def _document_id() -> sa.Column:
    return sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "page_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        _document_id(),
        sa.Column("page_index", sa.Integer(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(40), nullable=True),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_page_versions_doc_page", "page_versions", ["document_id", "page_index"])
    op.create_table(
        "page_corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        _document_id(),
        sa.Column("page_index", sa.Integer(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("document_id", "page_index"),
    )
    op.create_table(
        "page_marks",
        sa.Column("id", sa.Integer(), primary_key=True),
        _document_id(),
        sa.Column("page_index", sa.Integer(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("document_id", "page_index"),
    )


def downgrade() -> None:
    op.drop_table("page_marks")
    op.drop_table("page_corrections")
    op.drop_index("ix_page_versions_doc_page", table_name="page_versions")
    op.drop_table("page_versions")
