"""Read-side reports behind `pagemill status` and `pagemill show`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from models.db import Database
from models.errors import ConfigError
from models.tables import DocStatus, Document, JobDocument, Page, PageRange, PageTable

from ..export.page_markdown import StoredTable, readable_page

__all__ = ["DocumentRow", "list_documents", "document_detail", "document_markdown", "PAGE_SEPARATOR"]

PAGE_SEPARATOR = "\n\n---\n\n"


@dataclass
class DocumentRow:
    id: int
    filename: str
    status: str
    page_count: int | None
    pages_stored: int
    sources: dict[str, int]
    error: str | None
    error_code: str | None
    collection: str | None


def list_documents(
    db: Database, status: str | None = None, limit: int = 200, job_id: int | None = None, failing: bool = False
) -> list[DocumentRow]:
    """The latest `limit` documents (oldest of them first), optionally in one state, of one job, or failing."""
    with db.read_session() as s:
        q = select(Document).order_by(Document.id.desc()).limit(limit)
        if status:
            q = q.where(Document.status == status)
        if failing:
            q = q.where(Document.status.in_([DocStatus.failed, DocStatus.partial]))
        if job_id is not None:
            q = q.where(Document.id.in_(select(JobDocument.document_id).where(JobDocument.job_id == job_id)))
        docs = s.scalars(q).all()
        ids = [d.id for d in docs]
        per_source: dict[int, dict[str, int]] = {}
        for doc_id, source, n in s.execute(
            select(Page.document_id, Page.source, func.count())
            .where(Page.document_id.in_(ids))
            .group_by(Page.document_id, Page.source)
        ):
            per_source.setdefault(doc_id, {})[source] = n
        return [
            DocumentRow(
                d.id, d.filename, d.status, d.page_count, sum(per_source.get(d.id, {}).values()),
                per_source.get(d.id, {}), d.error, d.error_code, d.collection,
            )
            for d in reversed(docs)
        ]


def document_detail(db: Database, doc_id: int) -> tuple[Document, list[PageRange], DocumentRow]:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        if doc is None:
            raise ConfigError(f"no document {doc_id}")
        ranges = list(s.scalars(select(PageRange).where(PageRange.document_id == doc_id).order_by(PageRange.seq)))
        sources = dict(
            s.execute(
                select(Page.source, func.count()).where(Page.document_id == doc_id).group_by(Page.source)
            ).all()
        )
        row = DocumentRow(
            doc.id, doc.filename, doc.status, doc.page_count, sum(sources.values()), sources, doc.error,
            doc.error_code, doc.collection,
        )
        return doc, ranges, row


def document_markdown(db: Database, doc_id: int, page: int | None = None, with_headers: bool = False) -> str:
    """The pages' markdown joined by a rule, each table at its placeholder (scheduler/export/page_markdown.py)."""
    with db.read_session() as s:
        q = select(Page.page_index, Page.markdown, Page.header, Page.footer).where(
            Page.document_id == doc_id).order_by(Page.page_index)
        t = select(PageTable.page_index, PageTable.table_id, PageTable.content).where(
            PageTable.document_id == doc_id).order_by(PageTable.id)
        if page is not None:
            q, t = q.where(Page.page_index == page), t.where(PageTable.page_index == page)
        rows = s.execute(q).all()
        tables: dict[int, list[StoredTable]] = {}
        for index, table_id, content in s.execute(t):
            tables.setdefault(index, []).append(StoredTable(table_id, content))
    if page is not None and not rows:
        raise ConfigError(f"document {doc_id} has no stored page {page} (pages are 0-based)")
    return PAGE_SEPARATOR.join(readable_page(r.markdown, tables.get(r.page_index, []), r.header, r.footer,
                                             with_headers) for r in rows)
