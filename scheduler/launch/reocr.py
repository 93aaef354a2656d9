"""OCR one stored page again (another provider or settings), behind the review page's re-OCR action.

The page becomes an ordinary one-page range sent to a chosen queue: whatever worker listens there (one with
PAGEMILL_PROVIDER=mistral, say) OCRs it. Its current text is held first (models/corrections.py), so the new
output arrives beside it as a pending version and the person chooses; nothing is overwritten. The page row
itself is removed while it waits, since the worker's claim leaves out stored pages: `show` and `search` lack
that page until the range is stored (or `pagemill retry` re-runs it if it failed)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select

from models.corrections import hold_page
from models.db import Database
from models.errors import ConfigError
from models.tables import DocStatus, Document, Page, PageRange, RangeStatus
from worker.settings import WorkerSettings

__all__ = ["queue_page_again"]


def queue_page_again(db: Database, settings: WorkerSettings, document_id: int, page_index: int, queue: str,
                     author: str | None) -> int:
    """Queue `page_index` of the document as a new range on `queue`; returns the range id."""
    with db.write_session() as s:
        doc = s.get(Document, document_id, with_for_update={"key_share": True})
        if doc is None:
            raise ConfigError(f"no document {document_id}")
        busy = s.scalar(select(func.count()).select_from(PageRange).where(
            PageRange.document_id == document_id, PageRange.first_page <= page_index,
            PageRange.last_page >= page_index, PageRange.status.in_([RangeStatus.queued, RangeStatus.running])))
        if busy:
            raise ConfigError(f"page {page_index} is already queued")
        page = s.scalar(select(Page).where(Page.document_id == document_id, Page.page_index == page_index))
        if page is None:
            raise ConfigError(f"document {document_id} has no stored page {page_index}")
        hold_page(s, page, author)
        s.execute(delete(Page).where(Page.id == page.id))
        seq = (s.scalar(select(func.max(PageRange.seq)).where(PageRange.document_id == document_id)) or 0) + 1
        rng = PageRange(document_id=document_id, seq=seq, pages=[page_index], first_page=page_index,
                        last_page=page_index, status=RangeStatus.queued, enqueued_at=datetime.now(UTC))
        s.add(rng)
        doc.status, doc.finished_at = DocStatus.queued, None
        s.flush()
        range_id = rng.id
    _send(settings, range_id, queue)
    return range_id


def _send(settings: WorkerSettings, range_id: int, queue: str) -> None:
    from worker.tasks.app import app, configure
    from worker.tasks.ocr import ocr_range

    if app.settings != settings:
        configure(app, settings)
    ocr_range.apply_async(args=[range_id], queue=queue)
