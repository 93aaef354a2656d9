"""What both loaders yield: (text, metadata) for each page or chunk of the chosen documents, read from the
database (embedded SQLite in the data folder, or PostgreSQL with PAGEMILL_DATABASE_URL) like every command."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.db import Database
from models.settings import DatabaseSettings

__all__ = ["Source", "records"]


@dataclass
class Source:
    """Which documents (ids, SHA-256 prefixes, job:N; none: every done or partial one), as pages or chunks."""

    documents: Sequence[str | int] | None = None
    mode: str = "chunks"  # chunks | pages
    chunk_size: int | None = None
    chunk_overlap: int = 0
    chunk_unit: str = "chars"
    tokenizer: Callable[[str], int] | None = None
    database_url: str | None = None
    data_dir: str | Path | None = None
    contextualize: bool = False  # chunks: the heading path above each chunk's text
    _db: Database | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("chunks", "pages"):
            raise ValueError(f"mode must be 'chunks' or 'pages', not {self.mode!r}")

    def database(self) -> Database:
        if self._db is None:
            settings = DatabaseSettings(**{k: v for k, v in (("database_url", self.database_url),
                                                             ("data_dir", self.data_dir)) if v is not None})
            self._db = Database.from_settings(settings)
            self._db.migrate()
        return self._db


def _pages(db: Database, doc_id: int) -> Iterator[tuple[str, dict[str, Any]]]:
    from sqlalchemy import select

    from models.tables import Document, Page

    from ..export.page_markdown import readable_page
    from ..export.parts import load_parts
    from ..mcp.tools import page_uri

    parts = load_parts(db, doc_id)
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        rows = s.execute(select(Page.page_index, Page.markdown, Page.confidence_avg).where(
            Page.document_id == doc_id).order_by(Page.page_index)).all() if doc else []
        filename, collection = (doc.filename, doc.collection) if doc else ("", None)
    for index, markdown, confidence in rows:
        yield readable_page(markdown or "", parts.stored_tables(index)), {
            "document_id": doc_id, "filename": filename, "collection": collection, "page": index,
            "pages": [index], "confidence": confidence, "source": page_uri(doc_id, index)}


def records(source: Source) -> Iterator[tuple[str, dict[str, Any]]]:
    from ..chunks import ChunkOptions, document_chunks
    from ..launch.extract import resolve_targets
    from ..mcp.tools import page_uri

    db = source.database()
    refs = [str(d) for d in source.documents or []]
    ids = resolve_targets(db, refs, every=not refs)
    options = ChunkOptions(source.chunk_size, source.chunk_overlap, source.chunk_unit, source.tokenizer)
    for doc_id in ids:
        if source.mode == "pages":
            yield from _pages(db, doc_id)
            continue
        for chunk in document_chunks(db, doc_id, options):
            meta = chunk.metadata()
            meta["source"] = page_uri(chunk.document_id, chunk.pages[0]) if chunk.pages else None
            yield (chunk.contextualized() if source.contextualize else chunk.text), meta
