"""Batch mode's part of every sweep: form jobs from queued batch ranges, send them, poll them, collect them.

    tick = batch_tick(db, settings)          # the sweep (scheduler/sweep/periodic.py) calls it; `run --batch` too

- **Flush.** Queued batch ranges wait to share a job until PAGEMILL_BATCH_MIN_REQUESTS of them wait or the
  oldest has waited PAGEMILL_BATCH_MAX_WAIT_S (so a watched folder that receives one file still gets a job);
  `submit`/`run` flush at once when their intake is over (`force`). Each job holds at most
  PAGEMILL_BATCH_MAX_REQUESTS ranges (and input files are split further within the file limits).
- **Send.** Jobs in a local state are taken to the provider (worker/batch/submit.py), including those a killed
  process left halfway: nothing is sent twice.
- **Poll.** Live jobs are asked for their status when due; the interval grows from PAGEMILL_BATCH_POLL_MIN_S by
  half each time up to PAGEMILL_BATCH_POLL_MAX_S.
- **Collect.** Ended jobs have their answers stored and their other ranges given back (worker/batch/collect.py);
  ranges falling back to synchronous requests are sent to the workers.
Each job is taken by one process at a time (batch_ranges.take_job): sweeps of several processes do not race.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, or_, select

from models.db import Database
from models.errors import PagemillError
from models.tables import BatchJob, BatchStatus, PageRange, RangeStatus
from worker.batch.client import BatchClient
from worker.batch.collect import collect, poll
from worker.batch.ranges import (
    claim_job,
    eligible_ranges,
    job_worker_id,
    release_job,
    settle_budgets,
    take_job,
)
from worker.batch.submit import advance
from worker.budget.limit import build_budget
from worker.objects.registry import object_store
from worker.ranges.lease import holder_name
from worker.settings import WorkerSettings

__all__ = ["BatchTick", "batch_tick", "has_batch_work", "cancel_orphaned_jobs"]

log = logging.getLogger("pagemill.batch")


@dataclass
class BatchTick:
    created: int = 0  # jobs formed from queued ranges
    sent: int = 0  # jobs that reached the provider
    polled: int = 0
    collected: int = 0
    stored: int = 0  # ranges stored
    retried: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def has_batch_work(db: Database) -> bool:
    """Anything for batch mode to do: a queued batch range, or a job not collected yet (cheap: two EXISTS)."""
    with db.read_session() as s:
        return bool(s.scalar(select(
            exists().where(PageRange.status == RangeStatus.queued, PageRange.batch.is_(True))
            | exists().where(BatchJob.collected_at.is_(None))
        )))


def _should_flush(db: Database, settings: WorkerSettings, force: bool) -> bool:
    waiting, oldest = eligible_ranges(db)
    if not waiting:
        return False
    if force or waiting >= settings.batch_min_requests:
        return True
    return oldest is not None and oldest <= _now() - timedelta(seconds=settings.batch_max_wait_s)


def _due(db: Database, local: bool) -> list[int]:
    """Jobs not collected whose next step is due: in a local state, or at the provider (any status it gives,
    known or not)."""
    now = _now()
    steps = sorted(BatchStatus.LOCAL)
    with db.read_session() as s:
        q = select(BatchJob.id).where(BatchJob.collected_at.is_(None),
                                      or_(BatchJob.next_poll_at.is_(None), BatchJob.next_poll_at <= now))
        q = q.where(BatchJob.status.in_(steps)) if local else q.where(
            BatchJob.status.not_in([*steps, BatchStatus.abandoned]))
        return list(s.scalars(q.order_by(BatchJob.id)))


def _send_sync(settings: WorkerSettings, range_ids: list[int]) -> None:
    """Ranges falling back to synchronous requests (PAGEMILL_BATCH_FALLBACK=sync) go to the workers now; the
    sweep sends them again if the broker is away."""
    if not range_ids:
        return
    from worker.tasks.app import app, configure
    from worker.tasks.ocr import enqueue_range

    if app.settings != settings:
        configure(app, settings)
    for rid in range_ids:
        try:
            enqueue_range(rid)
        except Exception as exc:
            log.warning("could not reach the broker (%s); the sweep will send the ranges", type(exc).__name__)
            return


def batch_tick(db: Database, settings: WorkerSettings, force: bool = False,
               client: BatchClient | None = None) -> BatchTick:
    tick = BatchTick()
    if not has_batch_work(db):
        return tick
    objects = object_store(settings)
    own = client is None
    api = client or BatchClient.from_settings(settings)
    me = holder_name(job_worker_id())
    budget = build_budget(settings, db)
    try:
        while _should_flush(db, settings, force):
            if claim_job(db, settings, settings.batch_max_requests, budget=budget) is None:
                break
            tick.created += 1
        for job_id in _due(db, local=True):
            if not take_job(db, job_id, me):
                continue
            try:
                status = advance(db, objects, api, settings, job_id)
            finally:
                release_job(db, job_id, me)
            tick.sent += status not in BatchStatus.LOCAL and status != BatchStatus.abandoned
        for job_id in _due(db, local=False):
            with db.read_session() as s:
                row = s.get_one(BatchJob, job_id)
                status, polled = row.status, row.finished_at is not None
            if status not in BatchStatus.TERMINAL or not polled:  # an end seen at creation is polled once
                status = poll(db, api, settings, job_id)
                tick.polled += 1
            if status in BatchStatus.TERMINAL:
                report = collect(db, objects, api, settings, job_id, me)
                tick.collected += not report.deferred and bool(report.stored or report.retried or report.failed)
                tick.stored += len(report.stored)
                tick.retried += len(report.retried)
                _send_sync(settings, report.sync)
        settle_budgets(db, budget)
    finally:
        budget.close()
        objects.close()
        if own:
            api.close()
    return tick


def cancel_orphaned_jobs(db: Database, settings: WorkerSettings, client: BatchClient | None = None) -> list[str]:
    """Cancel at the provider the live jobs none of whose ranges is wanted any more (their documents were
    cancelled); a job still carrying a wanted range runs on, and the cancelled ranges' answers are not stored.
    Returns a line per job for the user."""
    from worker.batch.ranges import holder

    with db.read_session() as s:
        live = s.execute(select(BatchJob.id, BatchJob.token, BatchJob.provider_job_id).where(
            BatchJob.collected_at.is_(None), BatchJob.status.in_([BatchStatus.queued, BatchStatus.running]))).all()
        orphaned = [(jid, pid) for jid, token, pid in live if pid and not s.scalar(select(exists().where(
            PageRange.status == RangeStatus.running, PageRange.worker == holder(token))))]
    if not orphaned:
        return []
    own = client is None
    api = client or BatchClient.from_settings(settings)
    lines = []
    try:
        for job_id, remote_id in orphaned:
            try:
                remote = api.cancel_job(remote_id)
            except PagemillError as err:
                lines.append(f"batch job {job_id} ({remote_id}): could not be cancelled: {err.message}")
                continue
            with db.write_session() as s:
                s.get_one(BatchJob, job_id).status = remote.status
            lines.append(f"batch job {job_id} ({remote_id}): {remote.status}")
    finally:
        if own:
            api.close()
    return lines
