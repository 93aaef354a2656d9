"""Corrections of a page's text by a person, their history, and "looks right" marks.

A saved correction becomes the page's markdown, so `show`, `export`, `search` (the index follows the pages
table: triggers on SQLite, a generated column on PostgreSQL) and the API return it. The OCR text it replaced
and every correction are kept in `page_versions` with who and when. `page_corrections` holds the text in
force: when OCR stores that page again (a forced re-run, or a re-OCR of the page), the store path keeps the
held text and records the new OCR output beside it as a `pending` version, for the person to choose.

    from models.corrections import save_correction, page_history
    save_correction(db, doc_id, 0, "# Fixed title", author="ana")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, delete, select, text, update
from sqlalchemy.orm import Session

from .archive import archive_changed
from .db import Database
from .errors import ConfigError
from .outbox import page_corrected
from .tables import Page, PageCorrection, PageMark, PageVersion

__all__ = [
    "save_correction", "hold_page", "choose_version", "keep_held_text", "page_history", "pending_versions",
    "mark_looks_right", "unmark", "keep_corrections", "MAX_MARKDOWN_CHARS",
]

MAX_MARKDOWN_CHARS = 2_000_000  # a page longer than this is not a page someone typed


def _now() -> datetime:
    return datetime.now(UTC)


def _page(s: Session, document_id: int, page_index: int) -> Page:
    page = s.scalar(select(Page).where(Page.document_id == document_id, Page.page_index == page_index))
    if page is None:
        raise ConfigError(f"document {document_id} has no stored page {page_index}")
    return page


def _remember_original(s: Session, page: Page) -> None:
    """The OCR text as it was before the first correction: kept once, as the first version of the page."""
    known = s.scalar(select(PageVersion.id).where(
        PageVersion.document_id == page.document_id, PageVersion.page_index == page.page_index).limit(1))
    if known is None:
        s.add(PageVersion(document_id=page.document_id, page_index=page.page_index, markdown=page.markdown,
                          kind="ocr", status="history", source=page.source, model=page.model))


def _hold(s: Session, document_id: int, page_index: int, markdown: str, reason: str, author: str | None) -> None:
    held = s.scalar(select(PageCorrection).where(
        PageCorrection.document_id == document_id, PageCorrection.page_index == page_index))
    if held is None:
        s.add(PageCorrection(document_id=document_id, page_index=page_index, markdown=markdown, reason=reason,
                             author=author))
    else:
        held.markdown, held.reason, held.author, held.created_at = markdown, reason, author, _now()


def save_correction(db: Database, document_id: int, page_index: int, markdown: str, author: str | None) -> int:
    """Make `markdown` the page's text; returns the id of the new version. The previous text stays in the
    history (the OCR output before the first correction, every correction after it)."""
    if len(markdown) > MAX_MARKDOWN_CHARS:
        raise ConfigError(f"a page's text is limited to {MAX_MARKDOWN_CHARS} characters")
    markdown = markdown.replace("\r\n", "\n")
    with db.write_session() as s:
        page = _page(s, document_id, page_index)
        _remember_original(s, page)
        version = PageVersion(document_id=document_id, page_index=page_index, markdown=markdown,
                              kind="correction", status="history", author=author)
        s.add(version)
        _hold(s, document_id, page_index, markdown, "correction", author)
        page.markdown = markdown
        s.flush()
        page_corrected(s, document_id, page_index, author)  # the webhook event, in this transaction
        archive_changed(s, document_id)  # its archived searchable PDF is written again
        return version.id


def hold_page(s: Session, page: Page, author: str | None) -> None:
    """Before a page is OCR'd again: keep its text in the history and hold it, so the new output arrives
    beside it (pending) instead of replacing it. Inside the caller's transaction."""
    _remember_original(s, page)
    held = s.scalar(select(PageCorrection.id).where(
        PageCorrection.document_id == page.document_id, PageCorrection.page_index == page.page_index))
    if held is None:  # a correction already holds the page: it stays what holds it
        _hold(s, page.document_id, page.page_index, page.markdown, "reocr", author)


def choose_version(db: Database, version_id: int, author: str | None) -> None:
    """A person takes a pending OCR output: it becomes the page's text, and nothing holds the page any more."""
    with db.write_session() as s:
        version = s.get(PageVersion, version_id)
        if version is None or version.status != "pending":
            raise ConfigError(f"no pending version {version_id}")
        page = _page(s, version.document_id, version.page_index)
        page.markdown = version.markdown
        page.source, page.model = version.source or page.source, version.model
        version.status, version.author = "chosen", author
        _dismiss_others(s, version.document_id, version.page_index, keep=version.id)
        s.execute(delete(PageCorrection).where(PageCorrection.document_id == version.document_id,
                                               PageCorrection.page_index == version.page_index))
        page_corrected(s, version.document_id, version.page_index, author, how="version_chosen")
        archive_changed(s, version.document_id)


def keep_held_text(db: Database, document_id: int, page_index: int, author: str | None) -> None:
    """A person keeps the text in force: pending OCR outputs are dismissed (they stay in the history).
    A text held only for a re-OCR stops holding the page; a correction keeps holding it."""
    with db.write_session() as s:
        _dismiss_others(s, document_id, page_index, keep=None, author=author)
        s.execute(delete(PageCorrection).where(PageCorrection.document_id == document_id,
                                               PageCorrection.page_index == page_index,
                                               PageCorrection.reason == "reocr"))


def _dismiss_others(s: Session, document_id: int, page_index: int, keep: int | None,
                    author: str | None = None) -> None:
    q = update(PageVersion).where(PageVersion.document_id == document_id, PageVersion.page_index == page_index,
                                  PageVersion.status == "pending")
    if keep is not None:
        q = q.where(PageVersion.id != keep)
    s.execute(q.values(status="dismissed", author=author) if author else q.values(status="dismissed"))


def page_history(db: Database, document_id: int, page_index: int) -> list[PageVersion]:
    """Every version of the page, oldest first."""
    with db.read_session() as s:
        return list(s.scalars(select(PageVersion).where(
            PageVersion.document_id == document_id, PageVersion.page_index == page_index).order_by(PageVersion.id)))


def pending_versions(db: Database, document_id: int, page_index: int) -> list[PageVersion]:
    return [v for v in page_history(db, document_id, page_index) if v.status == "pending"]


def mark_looks_right(db: Database, document_id: int, page_index: int, author: str | None) -> None:
    with db.write_session() as s:
        _page(s, document_id, page_index)
        mark = s.scalar(select(PageMark).where(PageMark.document_id == document_id,
                                               PageMark.page_index == page_index))
        if mark is None:
            s.add(PageMark(document_id=document_id, page_index=page_index, author=author))


def unmark(db: Database, document_id: int, page_index: int) -> None:
    with db.write_session() as s:
        s.execute(delete(PageMark).where(PageMark.document_id == document_id, PageMark.page_index == page_index))


# The store path's check, as two statements that return no rows, in the store's write transaction: first the
# new OCR text of a held page is recorded as a pending version, then the page gets its held text back. A redelivered
# range finds the held text already there and records nothing.
# Both are driven from page_corrections' unique index (UPDATE .. FROM: SQLite 3.33+ and PostgreSQL), so with
# no correction on the document they cost an index probe each.
_RECORD_PENDING = text("""
INSERT INTO page_versions (document_id, page_index, markdown, kind, status, source, model, author, created_at)
SELECT p.document_id, p.page_index, p.markdown, 'ocr', 'pending', p.source, p.model, NULL, :now
FROM page_corrections c JOIN pages p ON p.document_id = c.document_id AND p.page_index = c.page_index
WHERE c.document_id = :doc AND c.page_index BETWEEN :lo AND :hi AND p.markdown <> c.markdown
""").bindparams(bindparam("now", type_=DateTime(timezone=True)))
_RESTORE_HELD = text("""
UPDATE pages SET markdown = c.markdown
FROM page_corrections c
WHERE c.document_id = :doc AND c.page_index BETWEEN :lo AND :hi
  AND pages.document_id = c.document_id AND pages.page_index = c.page_index AND pages.markdown <> c.markdown
""")


def keep_corrections(conn: Connection, page_rows: Iterable[Mapping[str, Any]]) -> None:
    """After OCR pages were inserted (inside the caller's transaction): a page held by a correction keeps it,
    and the new OCR output waits beside it as a pending version."""
    spans: dict[int, tuple[int, int]] = {}
    for row in page_rows:
        doc, index = int(row["document_id"]), int(row["page_index"])
        lo, hi = spans.get(doc, (index, index))
        spans[doc] = (min(lo, index), max(hi, index))
    if not spans:
        return
    now = _now()
    params = [{"doc": doc, "lo": lo, "hi": hi, "now": now} for doc, (lo, hi) in sorted(spans.items())]
    conn.execute(_RECORD_PENDING, params)
    conn.execute(_RESTORE_HELD, [{k: v for k, v in p.items() if k != "now"} for p in params])
