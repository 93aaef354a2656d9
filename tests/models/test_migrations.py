"""The Alembic migrations build exactly the tables, columns and indexes that models/tables.py declares, on both
databases (the full-text search objects of 0002 are the migrations' own and are left out of the comparison)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models.db import Database
from models.tables import Base
from tests.results_db import migrated_database


def _declared(obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
    if type_ == "table" and reflected and name not in Base.metadata.tables:
        return False  # FTS5 tables and their shadow tables (SQLite)
    # the generated tsvector column and its GIN index (PostgreSQL)
    return not (type_ in ("column", "index") and reflected and name and "search_vector" in name)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_models(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'results.sqlite'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = migrated_database(url)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _declared})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0004_keeps_existing_pages_and_adds_the_new_parts(backend: str, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    """A database at 0003 with pages in it: after 0004 they are still there and searchable, the new columns are
    NULL (no page is in the review queue), table search works, and downgrading removes it all again."""
    from alembic import command
    from sqlalchemy import text

    from models.migrate import alembic_config
    from models.search import search

    url = f"sqlite:///{tmp_path / 'r.sqlite'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = Database(url)
    cfg = alembic_config()
    try:
        with db.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            conn.execute(text("INSERT INTO documents (sha256, filename, size_bytes, status, options, object_path,"
                              " created_at, updated_at) VALUES ('ab', 'old.pdf', 1, 'done', '{}', 'x',"
                              " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO pages (document_id, page_index, markdown, source, created_at)"
                              " VALUES (1, 0, 'an old wombat page', 'tesseract', CURRENT_TIMESTAMP)"))
            conn.commit()
            command.upgrade(cfg, "0004")
            conn.commit()
        assert [h.page_index for h in search(db, "wombat")] == [0]
        with db.engine.connect() as conn:
            row = conn.execute(text("SELECT header, hyperlinks, confidence_avg FROM pages")).one()
            assert tuple(row) == (None, None, None)
            assert conn.execute(text("SELECT count(*) FROM review_queue")).scalar() == 0
            conn.execute(text("INSERT INTO page_tables (document_id, page_index, table_id, format, content, text,"
                              " created_at) VALUES (1, 0, 'tbl-0-0.html', 'html', '<td>numbat</td>', 'numbat',"
                              " CURRENT_TIMESTAMP)"))
            conn.commit()
        assert [(h.page_index, h.matched) for h in search(db, "numbat")] == [(0, "table")]
        with db.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
            conn.commit()
            tables = set(conn.execute(text(
                "SELECT name FROM sqlite_master" if backend == "sqlite" else
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
            assert "page_tables" not in tables and "page_blocks" not in tables and "pages" in tables
            command.upgrade(cfg, "head")
            conn.commit()
        assert [h.page_index for h in search(db, "wombat")] == [0]
    finally:
        db.dispose()
