"""The review page's tables: a page's text history, the corrections that hold it, and "looks right" marks
(docs/schema.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

__all__ = ["PageVersion", "PageCorrection", "PageMark"]


class PageVersion(Base):
    """The history of a page's text: the OCR output a correction replaced, every correction (who, when), and
    OCR outputs that arrived while a correction held the page (`pending` until a person chooses)."""

    __tablename__ = "page_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(Integer)
    markdown: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20))  # ocr | correction
    status: Mapped[str] = mapped_column(String(20), default="history")  # history | pending | chosen | dismissed
    source: Mapped[str | None] = mapped_column(String(40))  # the provider of an OCR version
    model: Mapped[str | None] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(Text)  # who saved a correction (or chose a version)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PageCorrection(Base):
    """The text that holds a page against later OCR runs: a person's correction, or the text kept while the page
    is OCR'd again. The store path keeps it and records the new OCR output as a pending PageVersion."""

    __tablename__ = "page_corrections"
    __table_args__ = (UniqueConstraint("document_id", "page_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(Integer)
    markdown: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(20), default="correction")  # correction | reocr
    author: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PageMark(Base):
    """A person's "looks right" on a page: it takes the page off the review queue."""

    __tablename__ = "page_marks"
    __table_args__ = (UniqueConstraint("document_id", "page_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(Integer)
    author: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_page_versions_doc_page", PageVersion.document_id, PageVersion.page_index)
