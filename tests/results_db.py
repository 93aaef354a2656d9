"""Helpers for tests that fill a results database directly (no OCR run): a migrated Database and rows."""

from __future__ import annotations

from alembic import command
from sqlalchemy import insert

from models.db import Database
from models.migrate import alembic_config
from models.tables import Document, Page

__all__ = ["migrated_database", "add_document"]


def migrated_database(url: str) -> Database:
    """A Database at Alembic head.

    Database.migrate() puts the URL into Alembic's ini-style config, where the `%` of the conftest's
    PostgreSQL URL (`options=-csearch_path%3D...`) is an interpolation error; the migration environment
    uses the connection passed in attributes, so the URL is left out here.
    """
    db = Database(url)
    if db.is_sqlite:
        db.migrate()
        return db
    cfg = alembic_config()
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
    return db


def add_document(db: Database, filename: str, pages: list[str], sha: str | None = None,
                 status: str = "done") -> int:
    """A document with the given page markdown (page_index 0, 1, ...); returns its id."""
    with db.write_session() as s:
        doc = Document(sha256=sha or filename.encode().hex().ljust(64, "0")[:64], filename=filename,
                       object_path="originals/x", status=status, page_count=len(pages))
        s.add(doc)
        s.flush()
        if pages:
            s.execute(insert(Page), [
                {"document_id": doc.id, "page_index": i, "markdown": md, "source": "tesseract"}
                for i, md in enumerate(pages)
            ])
        return doc.id
