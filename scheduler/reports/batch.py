"""Batch jobs as `pagemill status` shows them: id, the provider's job, status, requests done/failed, age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select

from models.db import Database
from models.tables import BatchJob

__all__ = ["BatchJobRow", "batch_jobs", "age_text"]


@dataclass(frozen=True)
class BatchJobRow:
    id: int
    provider_job_id: str | None
    status: str
    requests: int
    succeeded: int
    failed: int
    age_s: float
    collected: bool
    error: str | None


def age_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def batch_jobs(db: Database, limit: int = 20) -> list[BatchJobRow]:
    """Jobs not collected yet, then the most recent others, newest first."""
    now = datetime.now(UTC)
    with db.read_session() as s:
        jobs = s.scalars(
            select(BatchJob)
            .where(or_(BatchJob.collected_at.is_(None), BatchJob.id.in_(
                select(BatchJob.id).order_by(BatchJob.id.desc()).limit(limit).scalar_subquery())))
            .order_by(BatchJob.id.desc())
        ).all()
        rows = []
        for j in jobs:
            created = j.created_at if j.created_at.tzinfo else j.created_at.replace(tzinfo=UTC)
            rows.append(BatchJobRow(j.id, j.provider_job_id, j.status, j.requests, j.succeeded_requests,
                                    j.failed_requests, (now - created).total_seconds(), j.collected_at is not None,
                                    j.error))
        return rows
