"""A stored document as retrieval chunks: its pages read as a person reads them (tables in place, the corrected
text where a person corrected a page), cut by `markdown.chunk_pages`, with the document's metadata.

    from scheduler.chunks import ChunkOptions, document_chunks, export_chunks
    for chunk in document_chunks(db, 3, ChunkOptions(max_size=1500, overlap=100)):
        print(chunk.heading_path, chunk.pages, chunk.text[:80])
    export_chunks(db, ["job:2"], Path("chunks.jsonl"))          # or every_document=True
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models.db import Database
from models.errors import ConfigError
from models.tables import Document, Page

from ..export.page_markdown import readable_page
from ..export.parts import load_parts
from .markdown import ChunkOptions, chunk_pages, document_text, join_pages

__all__ = ["Chunk", "document_chunks", "iter_chunks", "export_chunks", "stored_text", "HEADING_SEPARATOR"]

HEADING_SEPARATOR = " > "


@dataclass(frozen=True)
class Chunk:
    """One chunk. `pages` are 0-based page indices; `start`/`end` place the chunk's own text in the document's
    text (`stored_text`): `text[prefix:len(text) - suffix]` is that text; the prefix repeats the end of the
    previous chunk (overlap) or a split table's header, the suffix closes a split HTML table."""

    document_id: int
    filename: str
    collection: str | None
    seq: int
    text: str
    headings: list[str]
    pages: list[int]
    kinds: list[str]
    size: int
    unit: str
    start: int
    end: int
    prefix: int = 0
    suffix: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.document_id}:{self.seq}"

    @property
    def heading_path(self) -> str:
        return HEADING_SEPARATOR.join(self.headings)

    def contextualized(self) -> str:
        """The text with its heading path above it, for an embedding model (the headings are not repeated when
        the chunk starts with them)."""
        if not self.headings or self.text.lstrip().startswith("#"):
            return self.text
        return f"{self.heading_path}\n\n{self.text}"

    def metadata(self) -> dict[str, Any]:
        return {"chunk_id": self.id, "document_id": self.document_id, "filename": self.filename,
                "collection": self.collection, "seq": self.seq, "headings": self.headings,
                "heading_path": self.heading_path, "pages": self.pages, "page": self.pages[0] if self.pages else None,
                "kinds": self.kinds, "size": self.size, "unit": self.unit, "start": self.start, "end": self.end,
                "prefix": self.prefix, "suffix": self.suffix}

    def to_dict(self) -> dict[str, Any]:
        return {**self.metadata(), "text": self.text}


def _pages(db: Database, doc_id: int) -> tuple[Document, list[tuple[int, str]]]:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        if doc is None:
            raise ConfigError(f"no document {doc_id}; `pagemill status` lists them")
        s.expunge(doc)
        rows = s.execute(select(Page.page_index, Page.markdown).where(Page.document_id == doc_id)
                         .order_by(Page.page_index)).all()
    parts = load_parts(db, doc_id) if rows else None
    pages = [(index, readable_page(markdown or "", parts.stored_tables(index) if parts else []))
             for index, markdown in rows]
    return doc, pages


def stored_text(db: Database, doc_id: int) -> str:
    """The document's text as the chunks see it: its blocks joined by blank lines, tables in place, a paragraph
    cut by a page break joined again."""
    return document_text(join_pages(_pages(db, doc_id)[1]))


def document_chunks(db: Database, doc_id: int, options: ChunkOptions | None = None) -> list[Chunk]:
    """The stored pages of one document as chunks (none for a document without stored pages)."""
    options = options or ChunkOptions()
    doc, pages = _pages(db, doc_id)
    return [Chunk(doc.id, doc.filename, doc.collection, n, p.text, p.headings, p.pages, p.kinds, p.size,
                  options.unit, p.start, p.end, p.prefix, p.suffix)
            for n, p in enumerate(chunk_pages(pages, options))]


def iter_chunks(db: Database, doc_ids: Sequence[int], options: ChunkOptions | None = None) -> Iterator[Chunk]:
    for doc_id in doc_ids:
        yield from document_chunks(db, doc_id, options)


def export_chunks(db: Database, refs: Sequence[str], out: Path, options: ChunkOptions | None = None,
                  every_document: bool = False) -> tuple[Path, int, int]:
    """Chunks of the documents named by `refs` (ids, SHA-256 prefixes, job:N), or of every done or partial
    document, as JSON lines (one chunk a line) in `out` (a file, or `chunks.jsonl` in a folder).
    Returns (file, documents, chunks)."""
    from ..launch.extract import resolve_targets

    ids = resolve_targets(db, list(refs), every_document)
    target = out / "chunks.jsonl" if out.is_dir() or str(out).endswith(os.sep) else out
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for chunk in iter_chunks(db, ids, options):
                fh.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target, len(ids), count
