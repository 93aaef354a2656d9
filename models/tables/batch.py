"""Batch API mode's tables: the jobs, the ranges each carries, and the budget spent (docs/schema.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

__all__ = ["BatchStatus", "BatchJob", "BatchJobRange", "BudgetSpend"]


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
    # the budget reserved for it when the job claimed it (worker/budget/limit.py), settled once the job is collected
    reserved_usd: Mapped[float] = mapped_column(Float, default=0.0)
    budget_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)


class BudgetSpend(Base):
    """The embedded budget ledger (worker/budget/limit.py): USD reserved or spent per budget key."""

    __tablename__ = "budget_spend"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "month:2026-12" or "job:17"
    spent_usd: Mapped[float] = mapped_column(Float, default=0.0)
