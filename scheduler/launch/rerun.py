"""Re-running failed ranges and cancelling queued work, behind `pagemill retry` and `pagemill cancel`.

A retry re-queues only the ranges that failed, with their attempts reset. Pages already stored are neither
OCR'd nor billed again: the worker's claim leaves out every page already in the pages table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update

from models.db import Database
from models.errors import ConfigError, ErrorCode, PagemillError
from models.tables import DocStatus, Document, JobDocument, PageRange, RangeStatus
from worker.ranges.store import finish_document
from worker.settings import WorkerSettings

__all__ = ["RetryReport", "CancelReport", "documents_of_job", "retry_failed", "cancel_documents"]


@dataclass
class RetryReport:
    range_ids: list[int] = field(default_factory=list)
    batch_range_ids: list[int] = field(default_factory=list)  # of range_ids: sent in a batch job, not to workers
    document_ids: list[int] = field(default_factory=list)
    pages: int = 0
    # documents that failed before any range existed (e.g. corrupt): nothing to re-run, the file must change
    intake_failures: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class CancelReport:
    document_ids: list[int] = field(default_factory=list)
    ranges_cancelled: int = 0
    already_finished: list[int] = field(default_factory=list)


def documents_of_job(db: Database, job_id: int) -> list[int]:
    with db.read_session() as s:
        ids = list(s.scalars(select(JobDocument.document_id).where(JobDocument.job_id == job_id)))
    if not ids:
        raise ConfigError(f"no job {job_id} (or it covered no documents)")
    return sorted(set(ids))


def retry_failed(db: Database, settings: WorkerSettings, document_ids: Sequence[int] | None = None) -> RetryReport:
    """Queue every failed range of `document_ids` (all documents when None) again and send it."""
    report = RetryReport()
    now = datetime.now(UTC)
    with db.write_session() as s:
        # held ranges too: after the budget was raised, a retry lets them go on (the send checks it again)
        q = select(PageRange).where(PageRange.status.in_([RangeStatus.failed, RangeStatus.held]))
        if document_ids is not None:
            q = q.where(PageRange.document_id.in_(list(document_ids)))
        for rng in s.scalars(q.order_by(PageRange.id)).all():
            rng.status = RangeStatus.queued
            rng.attempts = 0
            rng.error = rng.error_code = None
            rng.not_before = rng.lease_expires_at = rng.finished_at = rng.failing_since = None
            rng.enqueued_at = now
            report.range_ids.append(rng.id)
            if rng.batch:
                report.batch_range_ids.append(rng.id)
            report.pages += len(rng.pages)
            if rng.document_id not in report.document_ids:
                report.document_ids.append(rng.document_id)
        for doc_id in report.document_ids:
            doc = s.get(Document, doc_id)
            if doc is not None:
                doc.status = DocStatus.queued
                doc.finished_at = None
                finish_document(s, doc_id)
        failed_docs = select(Document.id, Document.error_code).where(Document.status == DocStatus.failed)
        if document_ids is not None:
            failed_docs = failed_docs.where(Document.id.in_(list(document_ids)))
        for doc_id, code in s.execute(failed_docs):
            if doc_id not in report.document_ids:
                report.intake_failures.append((doc_id, code or ErrorCode.other))
    _send(settings, [r for r in report.range_ids if r not in set(report.batch_range_ids)])
    if report.batch_range_ids:  # batch ranges go out in a batch job again, formed now
        from ..sweep.batch_poller import batch_tick

        try:
            batch_tick(db, settings, force=True)
        except PagemillError:  # the provider is away: the sweep forms the job later
            pass
    return report


def _send(settings: WorkerSettings, range_ids: Sequence[int]) -> None:
    from worker.tasks.app import app, configure
    from worker.tasks.ocr import enqueue_range

    if app.settings != settings:
        configure(app, settings)
    for rid in range_ids:
        enqueue_range(rid)


def cancel_documents(db: Database, document_ids: Sequence[int]) -> CancelReport:
    """Stop the queued and running work of each document; the document becomes `cancelled`.

    Messages already in the broker stay there: a worker that takes one finds the range cancelled and skips
    it. A range running right now finishes its provider call, but nothing decides its document's status."""
    report = CancelReport()
    now = datetime.now(UTC)
    with db.write_session() as s:
        for doc_id in document_ids:
            # FOR NO KEY UPDATE, as in the pipeline: a plain FOR UPDATE deadlocks with ranges inserting pages
            doc = s.get(Document, doc_id, with_for_update={"key_share": True})
            if doc is None:
                raise ConfigError(f"no document {doc_id}")
            pending = [RangeStatus.queued, RangeStatus.running, RangeStatus.held]
            res = s.execute(
                update(PageRange)
                .where(PageRange.document_id == doc_id, PageRange.status.in_(pending))
                .values(status=RangeStatus.cancelled, error="cancelled by the user",
                        error_code=ErrorCode.cancelled, lease_expires_at=None, finished_at=now)
            )
            if doc.status in DocStatus.TERMINAL and not res.rowcount:
                report.already_finished.append(doc_id)
                continue
            report.ranges_cancelled += int(res.rowcount or 0)
            doc.status = DocStatus.cancelled
            doc.error, doc.error_code = "cancelled by the user", ErrorCode.cancelled
            doc.finished_at = now
            report.document_ids.append(doc_id)
    return report
