"""The reads behind the review page's views, each bounded (a page of rows) so they stay fast at 100,000
documents: the document list pages by id (keyset), counts are taken for the rows shown only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, tuple_

from models.db import Database
from models.tables import (
    Document,
    Image,
    Page,
    PageBlock,
    PageCorrection,
    PageMark,
    PageRange,
    PageTable,
    PageVersion,
    RangeStatus,
)

__all__ = ["DocumentRow", "list_documents", "failures", "review_queue", "ReviewItem",
           "PageView", "page_view", "image_path"]


@dataclass
class DocumentRow:
    id: int
    filename: str
    status: str
    collection: str | None
    page_count: int | None
    pages_done: int
    sources: str
    error: str | None
    failed_ranges: int
    created_at: datetime

    @property
    def percent(self) -> int:
        return int(100 * self.pages_done / self.page_count) if self.page_count else 0


def list_documents(db: Database, status: str | None, collection: str | None, before: int | None,
                   limit: int) -> list[DocumentRow]:
    """Newest first; `before` is the id of the last row of the previous page."""
    q = select(Document.id, Document.filename, Document.status, Document.collection, Document.page_count,
               Document.error, Document.created_at).order_by(Document.id.desc()).limit(limit)
    if status:
        q = q.where(Document.status == status)
    if collection:
        q = q.where(Document.collection == collection)
    if before is not None:
        q = q.where(Document.id < before)
    with db.read_session() as s:
        docs = s.execute(q).all()
        ids = [d.id for d in docs]
        done: dict[int, int] = {}
        sources: dict[int, set[str]] = {}
        failed: dict[int, int] = {}
        if ids:
            for doc_id, source, n in s.execute(select(Page.document_id, Page.source, func.count())
                                               .where(Page.document_id.in_(ids))
                                               .group_by(Page.document_id, Page.source)):
                done[doc_id] = done.get(doc_id, 0) + n
                sources.setdefault(doc_id, set()).add(source)
            failed = {doc_id: n for doc_id, n in s.execute(
                select(PageRange.document_id, func.count())
                .where(PageRange.document_id.in_(ids), PageRange.status == RangeStatus.failed)
                .group_by(PageRange.document_id))}
    return [DocumentRow(d.id, d.filename, d.status, d.collection, d.page_count, done.get(d.id, 0),
                        ", ".join(sorted(sources.get(d.id, ()))), d.error, failed.get(d.id, 0), d.created_at)
            for d in docs]


@dataclass
class FailureRow:
    document_id: int
    filename: str
    status: str
    range_id: int | None
    first_page: int | None
    last_page: int | None
    error_code: str | None
    error: str | None


def failures(db: Database, limit: int = 500) -> list[FailureRow]:
    """The `failures` view (docs/schema.md): every failed document and range, newest first."""
    sql = text("SELECT document_id, filename, status, range_id, first_page, last_page, error_code, error "
               "FROM failures ORDER BY failed_at DESC LIMIT :limit")
    with db.read_session() as s:
        return [FailureRow(*row) for row in s.execute(sql, {"limit": limit})]


@dataclass
class ReviewItem:
    document_id: int
    filename: str
    page_index: int
    chars: int
    pending: bool
    confidence_avg: float | None = None
    confidence_min: float | None = None


REVIEW_CANDIDATES = 5000


def review_queue(db: Database, limit: int = 50) -> list[ReviewItem]:
    """Pages not marked "looks right", worst first: those with a new OCR version waiting for a choice, then
    the least confident (pages.confidence_avg, then _min: the `review_queue` view's order), then pages without
    a score (the text layer, older results), shortest text first among the REVIEW_CANDIDATES most recently
    stored (sorting every page by length took ~0.5 s at 100,000 pages)."""
    marked = (select(PageMark.id).where(PageMark.document_id == Page.document_id,
                                        PageMark.page_index == Page.page_index).exists())
    # a page a person corrected was looked at: its score is the replaced OCR text's
    corrected = (select(PageCorrection.id).where(PageCorrection.document_id == Page.document_id,
                                                 PageCorrection.page_index == Page.page_index,
                                                 PageCorrection.reason == "correction").exists())
    chars = func.length(Page.markdown)
    columns = (Page.document_id, Document.filename, Page.page_index, chars.label("chars"),
               Page.confidence_avg, Page.confidence_min)
    pending_pages = select(PageVersion.document_id, PageVersion.page_index).where(PageVersion.status == "pending")
    newest = select(Page.id).order_by(Page.id.desc()).limit(REVIEW_CANDIDATES).scalar_subquery()
    base = select(*columns).join(Document, Document.id == Page.document_id)
    with db.read_session() as s:
        waiting = s.execute(base.where(tuple_(Page.document_id, Page.page_index).in_(pending_pages))
                            .order_by(Page.document_id, Page.page_index).limit(limit)).all()
        doubtful = s.execute(base.where(Page.confidence_avg.is_not(None), ~marked, ~corrected)
                             .order_by(Page.confidence_avg, Page.confidence_min, Page.document_id, Page.page_index)
                             .limit(limit)).all()
        unscored = s.execute(base.where(Page.id.in_(newest), Page.confidence_avg.is_(None), ~marked, ~corrected)
                             .order_by(chars, Page.document_id, Page.page_index).limit(limit)).all()
    items: list[ReviewItem] = []
    seen: set[tuple[int, int]] = set()
    for rows, pending in ((waiting, True), (doubtful, False), (unscored, False)):
        for r in rows:
            if (r.document_id, r.page_index) not in seen:
                seen.add((r.document_id, r.page_index))
                items.append(ReviewItem(r.document_id, r.filename, r.page_index, int(r.chars or 0), pending,
                                        r.confidence_avg, r.confidence_min))
    return items[:limit]


@dataclass
class PageView:
    document: Document
    page: Page | None
    page_index: int
    image_names: set[str]
    held: PageCorrection | None
    marked: PageMark | None
    versions: list[PageVersion]
    next_document: int | None
    queued: bool
    blocks: list[PageBlock]
    tables: list[PageTable]


def page_view(db: Database, document_id: int, page_index: int) -> PageView | None:
    with db.read_session() as s:
        doc = s.get(Document, document_id)
        if doc is None:
            return None
        page = s.scalar(select(Page).where(Page.document_id == document_id, Page.page_index == page_index))
        names = set(s.scalars(select(Image.name).where(Image.document_id == document_id,
                                                       Image.page_index == page_index)))
        held = s.scalar(select(PageCorrection).where(PageCorrection.document_id == document_id,
                                                     PageCorrection.page_index == page_index))
        marked = s.scalar(select(PageMark).where(PageMark.document_id == document_id,
                                                 PageMark.page_index == page_index))
        versions = list(s.scalars(select(PageVersion).where(PageVersion.document_id == document_id,
                                                            PageVersion.page_index == page_index)
                                  .order_by(PageVersion.id)))
        next_doc = s.scalar(select(func.min(Document.id)).where(Document.id > document_id))
        queued = bool(s.scalar(select(func.count()).select_from(PageRange).where(
            PageRange.document_id == document_id, PageRange.first_page <= page_index,
            PageRange.last_page >= page_index,
            PageRange.status.in_([RangeStatus.queued, RangeStatus.running]))))
        blocks = list(s.scalars(select(PageBlock).where(PageBlock.document_id == document_id,
                                                        PageBlock.page_index == page_index,
                                                        PageBlock.top_left_x.is_not(None))
                                .order_by(PageBlock.seq)))
        tables = list(s.scalars(select(PageTable).where(PageTable.document_id == document_id,
                                                        PageTable.page_index == page_index)))
    return PageView(doc, page, page_index, names, held, marked, versions, next_doc, queued, blocks, tables)


def image_path(db: Database, document_id: int, name: str) -> tuple[str, str] | None:
    """(object path, mime type) of a stored image, looked up by its name in the database."""
    with db.read_session() as s:
        row = s.execute(select(Image.path, Image.mime_type).where(Image.document_id == document_id,
                                                                  Image.name == name)).first()
    return (row.path, row.mime_type) if row else None
