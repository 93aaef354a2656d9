"""keep every optional part of an OCR page: tables, header, footer, hyperlinks, blocks, confidence

pages gain header, footer, hyperlinks, confidence_avg, confidence_min, word_confidence; images gain annotation
(the provider's image_annotation, which used to land in description); new tables page_tables and page_blocks.
Table text is searchable like pages: an FTS5 table `page_tables_fts` kept by triggers on SQLite, a generated
`search_vector` with a GIN index on PostgreSQL. The view `review_queue` lists pages by ascending confidence.

The new columns are nullable, so SQLite adds them with ALTER TABLE ADD COLUMN (no table copy: the FTS triggers
of 0002 on pages and images stay as they are).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PG_MAX_INDEXED_CHARS = 500_000  # as in 0002: the tsvector limit is 1 MB

_PAGE_COLUMNS = [
    sa.Column("header", sa.Text(), nullable=True),
    sa.Column("footer", sa.Text(), nullable=True),
    sa.Column("hyperlinks", sa.JSON(), nullable=True),
    sa.Column("confidence_avg", sa.Float(), nullable=True),
    sa.Column("confidence_min", sa.Float(), nullable=True),
    sa.Column("word_confidence", sa.JSON(), nullable=True),
]

_SQLITE_FTS = [
    """CREATE VIRTUAL TABLE page_tables_fts USING fts5(
        text, content="page_tables", content_rowid="id", tokenize="unicode61 remove_diacritics 2")""",
    """CREATE TRIGGER page_tables_fts_insert AFTER INSERT ON page_tables BEGIN
        INSERT INTO page_tables_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER page_tables_fts_delete AFTER DELETE ON page_tables BEGIN
        INSERT INTO page_tables_fts(page_tables_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER page_tables_fts_update AFTER UPDATE OF id, text ON page_tables BEGIN
        INSERT INTO page_tables_fts(page_tables_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO page_tables_fts(rowid, text) VALUES (new.id, new.text);
    END""",
]

_PG_SEARCH = [
    f"""ALTER TABLE page_tables ADD COLUMN search_vector tsvector GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig, left(coalesce(text, ''), {_PG_MAX_INDEXED_CHARS}))) STORED""",
    "CREATE INDEX ix_page_tables_search_vector ON page_tables USING gin (search_vector)",
]

# pages without scores (the text layer, older results) are not in the queue: nothing says they are doubtful
_REVIEW_QUEUE = """CREATE VIEW review_queue AS
    SELECT p.document_id, d.filename, p.page_index, p.confidence_avg, p.confidence_min, p.source, p.model
    FROM pages p JOIN documents d ON d.id = p.document_id
    WHERE p.confidence_avg IS NOT NULL
    ORDER BY p.confidence_avg, p.confidence_min, p.document_id, p.page_index"""


def upgrade() -> None:
    for column in _PAGE_COLUMNS:
        op.add_column("pages", column)
    op.add_column("images", sa.Column("annotation", sa.Text(), nullable=True))
    op.create_table(
        "page_tables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("page_index", sa.Integer(), nullable=False),
        sa.Column("table_id", sa.String(length=100), nullable=False),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("word_confidence", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "table_id"),
    )
    op.create_table(
        "page_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("page_index", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("top_left_x", sa.Integer(), nullable=True),
        sa.Column("top_left_y", sa.Integer(), nullable=True),
        sa.Column("bottom_right_x", sa.Integer(), nullable=True),
        sa.Column("bottom_right_y", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("image_id", sa.String(length=100), nullable=True),
        sa.Column("table_id", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("confidence_scores", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "page_index", "seq"),
    )
    statements = _SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else _PG_SEARCH
    for sql in [*statements, _REVIEW_QUEUE]:
        op.execute(sql)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS review_queue")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("page_tables_fts_insert", "page_tables_fts_delete", "page_tables_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS page_tables_fts")
    op.drop_table("page_blocks")
    op.drop_table("page_tables")
    op.drop_column("images", "annotation")
    for column in reversed(_PAGE_COLUMNS):
        op.drop_column("pages", column.name)
