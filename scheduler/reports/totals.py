"""The totals `pagemill status` starts with: documents and pages by state, the recent rate and an ETA.

Four aggregate statements (documents by status, pages of the page ranges by status, pages stored in the last
five minutes through the index on pages.created_at, archived copies by state), so the answer stays well under a second at 100,000
documents on SQLite and PostgreSQL (bench/bench_intake.py --status-docs measures it). Pages by state are those
of the ranges that are queued, running, done or failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from models.archive import ArchiveCounts, archive_counts
from models.db import Database
from models.errors import ConfigError
from models.tables import Document, JobDocument, Page, PageRange, RangeStatus
from models.tables import Job as JobRow

__all__ = ["Totals", "totals", "RATE_WINDOW_S"]

RATE_WINDOW_S = 300  # pages/s is measured over the last five minutes


@dataclass
class Totals:
    documents: dict[str, int] = field(default_factory=dict)  # status -> count
    pages: dict[str, int] = field(default_factory=dict)  # range status -> pages in ranges of that status
    pages_recent: int = 0  # stored in the last RATE_WINDOW_S seconds
    job_id: int | None = None
    job_kind: str | None = None
    job_created: datetime | None = None
    archive: ArchiveCounts = field(default_factory=ArchiveCounts)  # documents given --archive, by their copy

    @property
    def documents_total(self) -> int:
        return sum(self.documents.values())

    @property
    def pages_pending(self) -> int:
        return self.pages.get(RangeStatus.queued, 0) + self.pages.get(RangeStatus.running, 0)

    @property
    def pages_per_s(self) -> float:
        return self.pages_recent / RATE_WINDOW_S

    @property
    def eta_s(self) -> float | None:
        """Seconds until the pending pages are done at the recent rate; None when nothing moved lately."""
        if not self.pages_pending:
            return 0.0
        return self.pages_pending / self.pages_per_s if self.pages_recent else None


def _page_count(pages: object) -> object:
    # json_array_length exists under this name on SQLite and PostgreSQL (the `pages` column is JSON on both)
    return func.json_array_length(pages)


def totals(db: Database, job_id: int | None = None, now: datetime | None = None) -> Totals:
    """Totals over every document, or over the documents of one job."""
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=RATE_WINDOW_S)
    out = Totals(job_id=job_id)
    with db.read_session() as s:
        if job_id is not None:
            job = s.get(JobRow, job_id)
            if job is None:
                raise ConfigError(f"no job {job_id}; run, submit and watch print their job's number")
            out.job_kind, out.job_created = job.kind, job.created_at
            docs = select(JobDocument.document_id).where(JobDocument.job_id == job_id).scalar_subquery()
            doc_q = select(Document.status, func.count()).where(Document.id.in_(docs))
            range_q = select(PageRange.status, func.sum(_page_count(PageRange.pages))).where(
                PageRange.document_id.in_(docs))
            recent_q = select(func.count()).select_from(Page).where(Page.document_id.in_(docs),
                                                                     Page.created_at >= since)
        else:
            doc_q = select(Document.status, func.count())
            range_q = select(PageRange.status, func.sum(_page_count(PageRange.pages)))
            recent_q = select(func.count()).select_from(Page).where(Page.created_at >= since)
        out.documents = {status: int(n) for status, n in s.execute(doc_q.group_by(Document.status))}
        out.pages = {status: int(n or 0) for status, n in s.execute(range_q.group_by(PageRange.status))}
        out.pages_recent = int(s.scalar(recent_q) or 0)
        out.archive = archive_counts(s, docs if job_id is not None else None)
    return out
