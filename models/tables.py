"""The results database. Users query these tables directly: names here are a contract (docs/schema.md)."""

from __future__ import annotations

from datetime import UTC, datetime
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
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
    "PageVersion",
    "PageCorrection",
    "PageMark",
    "BatchJob",
    "BatchStatus",
    "BatchJobRange",
    "BudgetSpend",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    held = "held"  # waiting for budget (worker/budget.py): neither failed nor billed; the reason is in `error`
    done = "done"
    failed = "failed"
    cancelled = "cancelled"
    TERMINAL = frozenset({done, failed, cancelled})
    WAITING = frozenset({held})  # not finished, not being worked on


class BatchStatus:
    """A batch job's `status`: the local steps before the provider knows it, then the provider's own."""

    pending = "pending"  # ranges claimed, nothing sent yet
    uploading = "uploading"  # the input file may have reached the provider (found again by its name)
    uploaded = "uploaded"
    creating = "creating"  # the job may exist at the provider (found again by its metadata)
    queued, running, success = "QUEUED", "RUNNING", "SUCCESS"
    failed, timeout, cancelling, cancelled = "FAILED", "TIMEOUT_EXCEEDED", "CANCELLATION_REQUESTED", "CANCELLED"
    abandoned = "abandoned"  # never created (e.g. 402): its ranges went back to the queue
    LOCAL = frozenset({pending, uploading, uploaded, creating})
    LIVE = frozenset({queued, running, cancelling})
    TERMINAL = frozenset({success, failed, timeout, cancelled})


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[int]: JSON, list[str]: JSON, list[dict[str, Any]]: JSON,
                           list[Any]: JSON}


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
    object_path: Mapped[str] = mapped_column(Text)  # original, relative to the object folder
    work_path: Mapped[str | None] = mapped_column(Text)  # decrypted copy, when a password was given
    collection: Mapped[str | None] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
    batch: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # sent through the Batch API, not one request
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
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
    path: Mapped[str] = mapped_column(Text)  # relative to the object folder
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
    kind: Mapped[str] = mapped_column(String(20), default="ocr")  # ocr | vision
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(100))
    pages_processed: Mapped[int] = mapped_column(Integer, default=0)
    doc_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    billing: Mapped[str] = mapped_column(String(20), default="sync", server_default="sync")  # sync | batch | annotated: the rate paid
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class RateLimitState(Base):
    """GCRA state for the embedded (SQL) rate limiter: theoretical arrival time per key."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)
    inflight: Mapped[int] = mapped_column(Integer, default=0)
    cooldown_until: Mapped[float] = mapped_column(Float, default=0.0)


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


class BatchJob(Base):
    """One Batch API job: its input file, the provider's job, and what came back (docs/schema.md)."""

    __tablename__ = "batch_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # names the input file and goes in the job's metadata, so an upload or a create cut short is found again
    token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(30), default=BatchStatus.pending, index=True)
    provider_job_id: Mapped[str | None] = mapped_column(String(200))
    input_file_id: Mapped[str | None] = mapped_column(String(200))
    output_file_id: Mapped[str | None] = mapped_column(String(200))
    error_file_id: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(100))
    timeout_hours: Mapped[int] = mapped_column(Integer, default=24)
    requests: Mapped[int] = mapped_column(Integer, default=0)  # lines in the input file
    input_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    completed_requests: Mapped[int] = mapped_column(Integer, default=0)
    succeeded_requests: Mapped[int] = mapped_column(Integer, default=0)
    failed_requests: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    polls: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    collector: Mapped[str | None] = mapped_column(String(200))  # who is storing its results, until when
    collect_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the provider's job exists
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # terminal at the provider
    collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # results stored
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class BatchJobRange(Base):
    """Which ranges (and which attempt of each) a batch job carries; `parts` are the pages of each line."""

    __tablename__ = "batch_job_ranges"
    __table_args__ = (UniqueConstraint("batch_job_id", "range_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_job_id: Mapped[int] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"))
    range_id: Mapped[int] = mapped_column(ForeignKey("page_ranges.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    parts: Mapped[list[Any]] = mapped_column(JSON, default=list)  # original pages at each position, per line
    outcome: Mapped[str] = mapped_column(String(20), default="pending")  # pending | stored | retried | failed
    error: Mapped[str | None] = mapped_column(Text)
    # the budget reserved for it when the job claimed it (worker/budget.py), settled once the job is collected
    reserved_usd: Mapped[float] = mapped_column(Float, default=0.0)
    budget_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)


class BudgetSpend(Base):
    """The embedded budget ledger (worker/budget.py): USD reserved or spent per budget key."""

    __tablename__ = "budget_spend"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "month:2026-12" or "job:17"
    spent_usd: Mapped[float] = mapped_column(Float, default=0.0)


Index("ix_page_ranges_doc_status", PageRange.document_id, PageRange.status)
# `pagemill status`'s pages/s counts the pages stored in the last minutes: a range of this index, not a scan of
# every page (100,000 documents: ~80 ms on PostgreSQL without it)
Index("ix_pages_created_at", Page.created_at)
