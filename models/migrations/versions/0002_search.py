"""full-text search over pages and image descriptions, plus views for common questions

SQLite: external-content FTS5 tables `pages_fts` (over pages.markdown) and `images_fts` (over
images.description), kept in sync by triggers, so every write path (workers, retries, manual SQL) keeps the
index right. `content="pages"` is spelled with double quotes because that is how Datasette recognises the
FTS table of a table and offers its search box.

PostgreSQL: a generated stored `search_vector` tsvector column on pages and on images, each with a GIN index.
The database computes it on every insert/update, so there is nothing to keep in sync.

Both use word tokens without stemming ('simple' configuration / unicode61), so results are the same on both.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# tsvector has a 1 MB limit: a page longer than this (very rare) is indexed by its beginning only
_PG_MAX_INDEXED_CHARS = 500_000

_SQLITE_FTS = [
    """CREATE VIRTUAL TABLE pages_fts USING fts5(
        markdown, content="pages", content_rowid="id", tokenize="unicode61 remove_diacritics 2")""",
    """CREATE VIRTUAL TABLE images_fts USING fts5(
        description, content="images", content_rowid="id", tokenize="unicode61 remove_diacritics 2")""",
    # the canonical external-content triggers: a 'delete' command must receive the values that were indexed
    """CREATE TRIGGER pages_fts_insert AFTER INSERT ON pages BEGIN
        INSERT INTO pages_fts(rowid, markdown) VALUES (new.id, new.markdown);
    END""",
    """CREATE TRIGGER pages_fts_delete AFTER DELETE ON pages BEGIN
        INSERT INTO pages_fts(pages_fts, rowid, markdown) VALUES ('delete', old.id, old.markdown);
    END""",
    """CREATE TRIGGER pages_fts_update AFTER UPDATE OF id, markdown ON pages BEGIN
        INSERT INTO pages_fts(pages_fts, rowid, markdown) VALUES ('delete', old.id, old.markdown);
        INSERT INTO pages_fts(rowid, markdown) VALUES (new.id, new.markdown);
    END""",
    """CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
        INSERT INTO images_fts(rowid, description) VALUES (new.id, new.description);
    END""",
    """CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
        INSERT INTO images_fts(images_fts, rowid, description) VALUES ('delete', old.id, old.description);
    END""",
    """CREATE TRIGGER images_fts_update AFTER UPDATE OF id, description ON images BEGIN
        INSERT INTO images_fts(images_fts, rowid, description) VALUES ('delete', old.id, old.description);
        INSERT INTO images_fts(rowid, description) VALUES (new.id, new.description);
    END""",
    # index whatever was stored before this revision
    "INSERT INTO pages_fts(pages_fts) VALUES ('rebuild')",
    "INSERT INTO images_fts(images_fts) VALUES ('rebuild')",
]

_PG_SEARCH = [
    f"""ALTER TABLE pages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig, left(coalesce(markdown, ''), {_PG_MAX_INDEXED_CHARS}))) STORED""",
    "CREATE INDEX ix_pages_search_vector ON pages USING gin (search_vector)",
    f"""ALTER TABLE images ADD COLUMN search_vector tsvector GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig, left(coalesce(description, ''), {_PG_MAX_INDEXED_CHARS}))) STORED""",
    "CREATE INDEX ix_images_search_vector ON images USING gin (search_vector)",
]


def _views(day_expr: str) -> list[str]:
    """Views whose names and columns are the same on both databases, so documented SQL is portable."""
    return [
        """CREATE VIEW document_overview AS
        SELECT d.id AS document_id, d.filename, d.status, d.error_code, d.error, d.page_count,
               (SELECT count(*) FROM pages p WHERE p.document_id = d.id) AS pages_stored,
               (SELECT count(*) FROM images i WHERE i.document_id = d.id) AS images,
               (SELECT coalesce(sum(u.pages_processed), 0) FROM usage u WHERE u.document_id = d.id) AS pages_billed,
               (SELECT coalesce(sum(u.cost_usd), 0) FROM usage u WHERE u.document_id = d.id) AS cost_usd,
               d.created_at, d.finished_at
        FROM documents d""",
        """CREATE VIEW failures AS
        SELECT d.id AS document_id, d.filename, d.status, NULL AS range_id, NULL AS first_page,
               NULL AS last_page, d.error_code, d.error, d.updated_at AS failed_at
        FROM documents d WHERE d.error IS NOT NULL
        UNION ALL
        SELECT r.document_id, d.filename, d.status, r.id, r.first_page, r.last_page, r.error_code, r.error,
               r.updated_at
        FROM page_ranges r JOIN documents d ON d.id = r.document_id
        WHERE r.status = 'failed'""",
        f"""CREATE VIEW usage_per_day AS
        SELECT {day_expr} AS day, kind, provider, model, count(*) AS responses,
               sum(pages_processed) AS pages_processed, coalesce(sum(cost_usd), 0) AS cost_usd
        FROM usage GROUP BY {day_expr}, kind, provider, model""",
    ]


_DROP_VIEWS = ["DROP VIEW IF EXISTS usage_per_day", "DROP VIEW IF EXISTS failures",
               "DROP VIEW IF EXISTS document_overview"]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        statements = _SQLITE_FTS + _views("date(created_at)")
    else:
        # UTC days whatever the session's time zone, like the UTC timestamps SQLite stores
        statements = _PG_SEARCH + _views("CAST(timezone('UTC', created_at) AS date)")
    for sql in statements:
        op.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    for sql in _DROP_VIEWS:
        op.execute(sql)
    if bind.dialect.name == "sqlite":
        for trigger in ("pages_fts_insert", "pages_fts_delete", "pages_fts_update",
                        "images_fts_insert", "images_fts_delete", "images_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS pages_fts")
        op.execute("DROP TABLE IF EXISTS images_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_pages_search_vector")
        op.execute("DROP INDEX IF EXISTS ix_images_search_vector")
        op.execute("ALTER TABLE pages DROP COLUMN IF EXISTS search_vector")
        op.execute("ALTER TABLE images DROP COLUMN IF EXISTS search_vector")
