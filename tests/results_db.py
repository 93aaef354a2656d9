"""Helpers for tests that fill a results database directly (no OCR run): a migrated Database and rows."""

from __future__ import annotations

from sqlalchemy import insert

from models.db import Database
from models.tables import Document, Page

__all__ = ["migrated_database", "add_document"]


def migrated_database(url: str) -> Database:
    """A Database at Alembic head, migrated the way every pagemill command migrates it."""
    db = Database(url)
    db.migrate()
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
