"""Which ranges a batch job carries: claiming queued batch ranges into a new job, and giving them back.

A range inside a batch job is `running`, held by `batch:<token>` (its job's token) with a lease that outlives
the job's own timeout: the sweep does not take it back while the job lives, and a Celery message for it is
refused like any duplicate. Its attempt is counted at claim time, as for a synchronous claim, so a range that
keeps failing in batches still reaches PAGEMILL_MAX_ATTEMPTS and fails with the provider's words.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from models.db import Database
from models.errors import BudgetExceeded, ErrorCode, PagemillError
from models.tables import (
    BatchJob,
    BatchJobRange,
    BatchStatus,
    DocStatus,
    Document,
    PageRange,
    RangeStatus,
    Usage,
)

from ..budget.hold import range_budget
from ..budget.limit import Budget, Charge
from ..ranges.failures import fail_range
from ..ranges.lease import holder_is_dead
from ..ranges.retry import backoff_s
from ..ranges.row_lock import ROW_LOCK
from ..ranges.store import finish_document
from ..redact import redact
from ..settings import WorkerSettings

__all__ = ["HOLDER_PREFIX", "Member", "holder", "claim_job", "members", "owned", "give_back", "stop_batches",
           "take_job", "release_job", "job_worker_id", "eligible_ranges", "settle_budgets"]

HOLDER_PREFIX = "batch:"
_LEASE_MARGIN = timedelta(hours=1)


def holder(token: str) -> str:
    return HOLDER_PREFIX + token


def _now() -> datetime:
    return datetime.now(UTC)


_JOB_LEASE = timedelta(minutes=10)


def job_worker_id() -> str:
    """This host's name for taking jobs: a holder of it whose process is gone is known dead at once."""
    return f"batch@{socket.gethostname()}"


def take_job(db: Database, job_id: int, me: str) -> bool:
    """Take a job for a step (upload/create, or storing its results) so two processes never do it at once. A
    taker whose lease ran out, or whose process on this host is gone (kill -9), is taken over."""
    now = _now()
    with db.write_session() as s:
        job = s.get(BatchJob, job_id, with_for_update=True, populate_existing=True)
        if job is None or job.collected_at is not None:
            return False
        until = job.collect_until.replace(tzinfo=UTC) if job.collect_until and job.collect_until.tzinfo is None \
            else job.collect_until
        if job.collector and job.collector != me and until is not None and until > now and not holder_is_dead(
            job.collector, job_worker_id()
        ):
            return False
        job.collector, job.collect_until = me, now + _JOB_LEASE
        return True


def release_job(db: Database, job_id: int, me: str) -> None:
    with db.write_session() as s:
        s.execute(update(BatchJob).where(BatchJob.id == job_id, BatchJob.collector == me)
                  .values(collector=None, collect_until=None))


def _eligible(now: datetime):  # type: ignore[no-untyped-def]
    return (
        select(PageRange.id)
        .join(Document, Document.id == PageRange.document_id)
        .where(
            PageRange.status == RangeStatus.queued,
            PageRange.batch.is_(True),
            or_(PageRange.not_before.is_(None), PageRange.not_before <= now),
            Document.status != DocStatus.cancelled,
        )
    )


def claim_job(db: Database, settings: WorkerSettings, limit: int, now: datetime | None = None,
              budget: Budget | None = None) -> int | None:
    """A new batch job (status `pending`: nothing sent) holding up to `limit` queued batch ranges, or None when
    none is waiting. Ranges out of attempts are failed here instead; with a `budget`, each range's cost at the
    batch rate is reserved first, and a range that does not fit is held."""
    now = now or _now()
    with db.read_session() as s:
        ids = list(s.scalars(_eligible(now).order_by(PageRange.id).limit(limit)))
    if not ids:
        return None
    charges: dict[int, Charge] = {}
    refused: dict[int, BudgetExceeded] = {}
    if budget is not None and budget.may_apply(db):
        contexts = range_budget(db, ids)
        for ctx in (contexts[rid] for rid in ids if rid in contexts):  # in range order: the first ones go first
            try:
                price = settings.annotated_batch_price if ctx.annotated else settings.batch_price
                charges[ctx.range_id] = budget.reserve(ctx.pages * price / 1000, ctx.job_id, ctx.job_limit_usd)
            except BudgetExceeded as err:
                refused[ctx.range_id] = err
    try:
        return _claim(db, settings, ids, now, charges, refused)
    finally:
        if budget is not None:
            for charge in charges.values():
                if not charge.claimed:
                    budget.settle(charge, 0.0)  # another claimer took the range: give its reservation back


def _claim(db: Database, settings: WorkerSettings, ids: list[int], now: datetime, charges: dict[int, Charge],
           refused: dict[int, BudgetExceeded]) -> int | None:
    with db.write_session() as s:
        token = uuid.uuid4().hex
        job = BatchJob(token=token, status=BatchStatus.pending, model=settings.ocr_model,
                       timeout_hours=settings.batch_timeout_hours, requests=0, input_bytes=0, polls=0,
                       completed_requests=0, succeeded_requests=0, failed_requests=0)
        s.add(job)
        s.flush()
        lease = now + timedelta(hours=settings.batch_timeout_hours) + _LEASE_MARGIN
        claimed = 0
        for rid in ids:
            rng = s.get(PageRange, rid, with_for_update=ROW_LOCK, populate_existing=True)
            if rng is None or rng.status != RangeStatus.queued:
                continue  # another claimer (a synchronous retry, another sweeper) took it first
            if rng.attempts >= settings.max_attempts:
                last = rng.error or "no answer came back"
                fail_range(s, rng, rng.error_code or "provider", f"gave up after {rng.attempts} attempts: {last}")
                continue
            if rid in refused:
                rng.status, rng.error, rng.error_code = RangeStatus.held, refused[rid].message, ErrorCode.budget
                continue
            rng.status, rng.attempts, rng.worker = RangeStatus.running, rng.attempts + 1, holder(token)
            rng.started_at, rng.lease_expires_at = now, lease
            charge = charges.get(rid)
            s.add(BatchJobRange(batch_job_id=job.id, range_id=rid, attempt=rng.attempts, parts=[], outcome="pending",
                                reserved_usd=charge.usd if charge else 0.0, budget_keys=charge.keys if charge else []))
            if charge is not None:
                charge.claimed = True
            doc = s.get(Document, rng.document_id)
            if doc is not None and doc.status == DocStatus.queued:
                doc.status = DocStatus.running
            claimed += 1
        if not claimed:
            s.delete(job)
            return None
        return job.id


def settle_budgets(db: Database, budget: Budget) -> int:
    """Collected (or abandoned) jobs' reservations replaced by what the ledger recorded for their ranges since
    each job began. The reservation is cleared before the budget is credited: a crash in between errs on the side
    of not spending. Returns how many ranges were settled."""
    with db.write_session() as s:
        rows = s.execute(
            select(BatchJobRange, BatchJob.created_at).join(BatchJob, BatchJob.id == BatchJobRange.batch_job_id)
            .where(BatchJob.collected_at.is_not(None), BatchJobRange.reserved_usd > 0)
        ).all()
        todo = []
        for link, since in rows:
            actual = float(s.scalar(select(func.coalesce(func.sum(Usage.cost_usd), 0.0)).where(
                Usage.range_id == link.range_id, Usage.created_at >= since)) or 0.0)
            todo.append((Charge(link.reserved_usd, list(link.budget_keys or [])), actual))
            link.reserved_usd = 0.0
    for charge, actual in todo:
        budget.settle(charge, actual)
    return len(todo)


def eligible_ranges(db: Database, now: datetime | None = None) -> tuple[int, datetime | None]:
    """How many queued batch ranges wait for a job, and since when the oldest waits."""
    now = now or _now()
    sub = _eligible(now).add_columns(PageRange.enqueued_at, PageRange.created_at).subquery()
    with db.read_session() as s:
        n, oldest_enq, oldest_created = s.execute(
            select(func.count(), func.min(sub.c.enqueued_at), func.min(sub.c.created_at))
        ).one()
    oldest = oldest_enq or oldest_created
    return int(n or 0), (oldest.replace(tzinfo=UTC) if oldest is not None and oldest.tzinfo is None else oldest)


@dataclass(frozen=True)
class Member:
    """One range of a job, as the job's steps need it."""

    link_id: int
    range_id: int
    document_id: int
    attempt: int
    pages: list[int]
    parts: list[list[int]]
    outcome: str


def members(session: Session, job_id: int) -> list[Member]:
    rows = session.execute(
        select(BatchJobRange, PageRange.document_id, PageRange.pages)
        .join(PageRange, PageRange.id == BatchJobRange.range_id)
        .where(BatchJobRange.batch_job_id == job_id)
        .order_by(BatchJobRange.range_id)
    ).all()
    return [Member(link.id, link.range_id, doc_id, link.attempt, list(pages), [list(p) for p in link.parts or []],
                   link.outcome) for link, doc_id, pages in rows]


def owned(rng: PageRange | None, token: str, attempt: int) -> bool:
    """The range is still this job's (not cancelled, not retried synchronously, not a later attempt)."""
    return (rng is not None and rng.status == RangeStatus.running and rng.worker == holder(token)
            and rng.attempts == attempt)


def give_back(session: Session, settings: WorkerSettings, token: str, link: BatchJobRange, code: str,
              message: str) -> str:
    """A range of the job got no usable answer: back to the queue for another attempt (in a later batch, or
    synchronously with PAGEMILL_BATCH_FALLBACK=sync), or failed once out of attempts. Returns the outcome."""
    rng = session.get(PageRange, link.range_id, with_for_update=ROW_LOCK, populate_existing=True)
    message = redact(message)
    link.error = message
    if not owned(rng, token, link.attempt):
        link.outcome = "left"
        return link.outcome
    assert rng is not None
    if rng.attempts < settings.max_attempts:
        wait = backoff_s(rng.attempts, settings.retry_base_s, settings.retry_max_s)
        rng.status, rng.error, rng.error_code = RangeStatus.queued, message, code
        rng.worker, rng.lease_expires_at = None, None
        rng.not_before, rng.enqueued_at = _now() + timedelta(seconds=wait), _now()
        rng.batch = settings.batch_fallback != "sync"
        link.outcome = "retried"
    else:
        fail_range(session, rng, code, f"gave up after {rng.attempts} attempts: {message}")
        link.outcome = "failed"
    return link.outcome


def stop_batches(db: Database, job_id: int, err: PagemillError) -> None:
    """A key or billing problem fails every batch range the same way: this job's and the queued ones, at once,
    with the message that says what to do."""
    message = redact(err.message)
    with db.write_session() as s:
        job = s.get(BatchJob, job_id)
        if job is None:
            return
        job.status, job.error, job.error_code = BatchStatus.abandoned, message, err.code
        job.collected_at = _now()
        mine = holder(job.token)
        rows = s.scalars(select(PageRange).where(or_(
            (PageRange.status == RangeStatus.running) & (PageRange.worker == mine),
            (PageRange.status == RangeStatus.queued) & PageRange.batch.is_(True),
        ))).all()
        docs = set()
        for rng in rows:
            rng.status, rng.error, rng.error_code = RangeStatus.failed, message, err.code
            rng.finished_at, rng.lease_expires_at = _now(), None
            docs.add(rng.document_id)
        for link in s.scalars(select(BatchJobRange).where(BatchJobRange.batch_job_id == job_id)):
            link.outcome, link.error = "failed", message
        s.flush()
        for doc_id in sorted(docs):
            finish_document(s, doc_id)
