"""The core tables: documents, their names, jobs, page ranges, pages and their parts, images, usage, fields and
the rate limiter's state. Users query these tables directly: names here are a contract (docs/schema.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JsonDocument, utcnow

__all__ = [
    "DocStatus",
    "RangeStatus",
    "Document",
    "DocumentName",
    "Job",
    "JobDocument",
    "PageRange",
    "Page",
    "Image",
    "PageTable",
    "PageBlock",
    "Usage",
    "RateLimitState",
    "FieldSchema",
    "FieldsRow",
    "FieldsStatus",
]


class DocStatus:
    queued = "queued"
    running = "running"
    done = "done"
    partial = "partial"
    failed = "failed"
    cancelled = "cancelled"
    TERMINAL = frozenset({done, partial, failed, cancelled})


class RangeStatus:
    queued = "queued"
    running = "running"
    held = "held"  # waiting for budget (worker/budget/limit.py): neither failed nor billed; the reason is in `error`
    done = "done"
    failed = "failed"
    cancelled = "cancelled"
    TERMINAL = frozenset({done, failed, cancelled})
    WAITING = frozenset({held})  # not finished, not being worked on


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(Text)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    page_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=DocStatus.queued, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    # what was asked of this document: provider, model, pages, text-layer mode... (dedup compares options_key)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options_key: Mapped[str | None] = mapped_column(String(64))
    object_path: Mapped[str] = mapped_column(Text)  # original, relative to the object store's root
    work_path: Mapped[str | None] = mapped_column(Text)  # decrypted copy, when a password was given
    collection: Mapped[str | None] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the archive (--archive, scheduler/export/archive.py): where this document's searchable PDF goes, the name
    # chosen there, and whether the copy there is current: archive_rev counts changes (a finish, a correction),
    # archived_rev is the count the last written copy was made from (NULL: never written)
    archive_url: Mapped[str | None] = mapped_column(Text)
    archive_name: Mapped[str | None] = mapped_column(Text)
    archive_rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    archived_rev: Mapped[int | None] = mapped_column(Integer)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_partial: Mapped[bool | None] = mapped_column(Boolean)  # the copy was written from a partial document
    archive_error: Mapped[str | None] = mapped_column(Text)  # why the last write failed (NULL once one succeeds)
    # no archiver takes the document before this: a running write's lease, or the wait after a failed one
    archive_next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DocumentName(Base):
    """Every name a document's bytes arrived under (dedup keeps one document, every name is recorded)."""

    __tablename__ = "document_names"
    __table_args__ = (UniqueConstraint("document_id", "source_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(Text)
    collection: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """One call of run/submit/watch: the documents it covered and how each was handled."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobDocument(Base):
    __tablename__ = "job_documents"
    __table_args__ = (UniqueConstraint("job_id", "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(Text)
    # queued | duplicate | failed (intake) | forced
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class PageRange(Base):
    __tablename__ = "page_ranges"
    __table_args__ = (UniqueConstraint("document_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    pages: Mapped[list[int]] = mapped_column(JSON)  # 0-based page indices of the original document
    first_page: Mapped[int] = mapped_column(Integer)
    last_page: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=RangeStatus.queued, index=True)
    # sent through the Batch API, not one request
    batch: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when its current run of provider outages began (worker/ranges/failures.py); None while none is under way
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "page_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(Integer)
    markdown: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    dpi: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(40))  # provider name, or "text_layer"
    model: Mapped[str | None] = mapped_column(String(100))
    range_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the optional parts of the provider's page (NULL when it gave none): header/footer text taken out of
    # the markdown (extract_header/_footer), its links, and its confidence scores in 0..1
    header: Mapped[str | None] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(Text)
    hyperlinks: Mapped[list[str] | None] = mapped_column(JSON)
    confidence_avg: Mapped[float | None] = mapped_column(Float)
    confidence_min: Mapped[float | None] = mapped_column(Float)
    word_confidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # {text, confidence, start_index}
    # the local engine's word boxes (worker/layout/word_boxes.py), read only by the PDF export: deferred, so
    # loading pages does not load them
    words: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)


class PageTable(Base):
    """A table the provider took out of a page's markdown (`table_format`); `[table_id](table_id)` marks its
    place there."""

    __tablename__ = "page_tables"
    __table_args__ = (UniqueConstraint("document_id", "table_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(Integer)
    table_id: Mapped[str] = mapped_column(String(100))  # e.g. tbl-3-0.html, chosen by pagemill
    provider_id: Mapped[str | None] = mapped_column(Text)  # the id the provider gave, for reference only
    format: Mapped[str] = mapped_column(String(20))  # markdown | html
    content: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")  # the cells' text without markup: what search indexes
    word_confidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PageBlock(Base):
    """A typed layout block of a page (OCR 4 `blocks`, or a local engine's layout), in reading order."""

    __tablename__ = "page_blocks"
    __table_args__ = (UniqueConstraint("document_id", "page_index", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)  # 0, 1, 2, ... in the page's order
    type: Mapped[str] = mapped_column(String(40))  # text, title, table, image, header, ... as the provider said
    top_left_x: Mapped[int | None] = mapped_column(Integer)
    top_left_y: Mapped[int | None] = mapped_column(Integer)
    bottom_right_x: Mapped[int | None] = mapped_column(Integer)
    bottom_right_y: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[str | None] = mapped_column(String(100))  # images.name of an image block
    table_id: Mapped[str | None] = mapped_column(String(100))  # page_tables.table_id of a table block
    confidence: Mapped[float | None] = mapped_column(Float)  # average content confidence, 0..1
    confidence_scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the block's scores as sent
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("document_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))  # e.g. img-0.jpeg, chosen by pagemill
    provider_id: Mapped[str | None] = mapped_column(Text)  # the id the provider gave, for reference only
    top_left_x: Mapped[int | None] = mapped_column(Integer)
    top_left_y: Mapped[int | None] = mapped_column(Integer)
    bottom_right_x: Mapped[int | None] = mapped_column(Integer)
    bottom_right_y: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)  # relative to the object store's root
    sha256: Mapped[str] = mapped_column(String(64))
    mime_type: Mapped[str] = mapped_column(String(50))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    description_model: Mapped[str | None] = mapped_column(String(100))
    description_tokens: Mapped[int | None] = mapped_column(Integer)
    annotation: Mapped[str | None] = mapped_column(Text)  # the provider's image_annotation (a JSON string)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Usage(Base):
    """The usage ledger: one row per billed provider response."""

    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    range_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20), default="ocr")  # ocr | annotation | vision | extract
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(100))
    pages_processed: Mapped[int] = mapped_column(Integer, default=0)
    doc_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    # sync | batch | annotated: the rate paid
    billing: Mapped[str] = mapped_column(String(20), default="sync", server_default="sync")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class FieldsStatus:
    pending = "pending"  # an extraction was claimed and is under way
    done = "done"  # `data` holds JSON that validated against the schema
    failed = "failed"  # `error` says why; `data` stays NULL (never stored as if valid)


class FieldSchema(Base):
    """Every extraction schema used, by the SHA-256 of its canonical JSON: workers read it from here."""

    __tablename__ = "field_schemas"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FieldsRow(Base):
    """One row of extracted fields per (document, schema): the answer's JSON, or the reason there is none."""

    __tablename__ = "fields"
    __table_args__ = (UniqueConstraint("document_id", "schema_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    schema_name: Mapped[str] = mapped_column(String(100), index=True)
    schema_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=FieldsStatus.pending)
    # jsonb on PostgreSQL: its operators (->>, @>) and GIN indexes work on it directly (docs/schema.md)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument())
    source: Mapped[str | None] = mapped_column(String(20))  # annotation (in the OCR request) | chat
    model: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)  # e.g. which pages a long document's extraction read
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RateLimitState(Base):
    """GCRA state for the embedded (SQL) rate limiter: theoretical arrival time per key."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)
    inflight: Mapped[int] = mapped_column(Integer, default=0)
    cooldown_until: Mapped[float] = mapped_column(Float, default=0.0)


Index("ix_page_ranges_doc_status", PageRange.document_id, PageRange.status)
# `pagemill status`'s pages/s counts the pages stored in the last minutes: a range of this index, not a scan of
# every page (100,000 documents: ~80 ms on PostgreSQL without it)
Index("ix_pages_created_at", Page.created_at)
Index("ix_documents_archive_due", Document.archive_url, Document.status)
