"""Periodic sweeps: the database, not the broker, decides what still needs doing.

Each sweep
- releases ranges whose lease ran out (their worker died: kill -9, OOM, a lost machine) back to `queued` and
  sends them again, or fails them with their last error once they used PAGEMILL_MAX_ATTEMPTS (a range that
  kills its worker never loops);
- sends again ranges that have waited in `queued` longer than `requeue_after_s` while the broker queue is
  empty, i.e. their message was lost (the embedded broker drops in-flight messages on kill -9; a Redis
  restart without persistence drops the whole queue). While the queue still holds messages nothing is sent,
  so a long backlog is not duplicated;
- finishes documents whose ranges are all over but whose status was never settled (a worker died right
  after storing the last range);
- queues the fields extraction of finished documents submitted with a schema that no worker took
  (worker/extraction/tasks.py), or fails it when the document's OCR failed;
- deletes consumed messages of the embedded SQLAlchemy broker, which kombu keeps forever (`visible = 0`);
- does batch mode's rounds (scheduler/sweep/batch_poller.py): forms jobs from queued batch ranges, sends, polls and
  collects them. Batch ranges are never sent to the workers by the sweep: their jobs are the batch poller's.

Sending twice is harmless: tasks skip ranges that are done or leased by a live worker.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, exists, or_, select, text, update
from sqlalchemy.exc import OperationalError

from models.db import Database
from models.tables import DocStatus, Document, PageRange, RangeStatus
from worker.ranges.failures import fail_range
from worker.ranges.store import finish_document
from worker.settings import WorkerSettings

if TYPE_CHECKING:
    from .batch_poller import BatchTick

__all__ = ["SweepReport", "archive_finished", "sweep_once", "sweep_database", "Sweeper", "queue_depth", "purge_consumed_messages"]

log = logging.getLogger("pagemill.sweep")

_LOST = "the worker was lost while processing this range"


@dataclass
class SweepReport:
    requeued: int = 0
    failed: int = 0  # expired ranges that had used all their attempts
    purged: int = 0  # consumed embedded-broker messages deleted
    settled: int = 0  # documents finished whose last range's worker died before finishing them
    batch: BatchTick | None = None  # batch mode's round, when there was batch work
    released: int = 0  # held ranges that fit the budget again
    fields: int = 0  # fields extractions queued that no worker had taken
    archived: int = 0  # searchable PDFs written to their archive (--archive)


def _app(settings: WorkerSettings):  # type: ignore[no-untyped-def]
    from worker.tasks.app import app, configure

    if app.settings != settings:
        configure(app, settings)
    return app


def queue_depth(settings: WorkerSettings) -> int | None:
    """Messages waiting in the broker queue (not those a worker holds), or None when it cannot be read."""
    app = _app(settings)
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            ok = conn.default_channel.queue_declare(settings.queue, passive=True)
            return int(ok.message_count)
    except Exception as exc:  # a queue never declared has no messages; an unreachable broker is unknown
        name = type(exc).__name__
        if "ChannelError" in name or "NotFound" in name:
            return 0
        log.debug("queue depth unknown: %s", name)
        return None


def purge_consumed_messages(settings: WorkerSettings) -> int:
    """`DELETE FROM kombu_message WHERE visible = 0` on the embedded broker (about 1 KB per task otherwise)."""
    if not settings.embedded_broker:
        return 0
    url = settings.effective_broker_url.removeprefix("sqla+")
    engine = create_engine(url, connect_args={"timeout": 5})
    try:
        with engine.begin() as conn:
            return int(conn.execute(text("DELETE FROM kombu_message WHERE visible = 0")).rowcount or 0)
    except OperationalError:  # no message was ever sent: the table does not exist yet
        return 0
    finally:
        engine.dispose()


def _release_expired(
    db: Database, now: datetime, max_attempts: int, document_ids: list[int] | None = None
) -> tuple[list[int], int]:
    """Expired running ranges back to queued (ids returned), or failed when out of attempts."""
    requeue: list[int] = []
    failed = 0
    query = select(PageRange).where(PageRange.status == RangeStatus.running, PageRange.lease_expires_at < now)
    if document_ids is not None:
        query = query.where(PageRange.document_id.in_(document_ids))
    with db.write_session() as s:
        rows = s.scalars(query).all()
        for r in rows:
            if r.attempts >= max_attempts:
                last = r.error or _LOST
                fail_range(s, r, r.error_code or "worker_lost", f"gave up after {r.attempts} attempts: {last}")
                failed += 1
                continue
            r.status = RangeStatus.queued
            r.error = r.error or _LOST
            r.error_code = r.error_code or "worker_lost"
            r.lease_expires_at = None
            if not r.batch:  # a batch range waits for the next batch job
                requeue.append(r.id)
    return requeue, failed


def _stale_queued(db: Database, now: datetime, requeue_after_s: float) -> list[int]:
    stale = now - timedelta(seconds=requeue_after_s)
    with db.read_session() as s:
        return list(
            s.scalars(
                select(PageRange.id)
                .where(
                    PageRange.status == RangeStatus.queued,
                    PageRange.batch.is_(False),
                    or_(PageRange.enqueued_at.is_(None), PageRange.enqueued_at < stale),
                    or_(PageRange.not_before.is_(None), PageRange.not_before < now),
                )
                .order_by(PageRange.id)
            )
        )


def _send(db: Database, settings: WorkerSettings, ids: list[int]) -> int:
    """Enqueue `ids`; only the ones actually sent get a new enqueued_at (the rest are tried next sweep)."""
    from worker.tasks.ocr import enqueue_range

    _app(settings)
    sent: list[int] = []
    for rid in ids:
        try:
            enqueue_range(rid)
        except Exception as exc:  # the broker is away: keep the rest for the next sweep
            log.warning("sweep could not reach the broker (%s); will try again", type(exc).__name__)
            break
        sent.append(rid)
    if sent:
        with db.write_session() as s:
            s.execute(update(PageRange).where(PageRange.id.in_(sent)).values(enqueued_at=datetime.now(UTC)))
    return len(sent)


def _settle_unfinished(db: Database, document_ids: list[int] | None = None) -> int:
    """Documents still queued/running although none of their ranges is: a worker died between storing its
    range and finishing the document (worker/ranges/run.py settle_document). Finish them; returns how many."""
    pending = [RangeStatus.queued, RangeStatus.running, RangeStatus.held]
    any_range = exists().where(PageRange.document_id == Document.id)
    open_range = exists().where(PageRange.document_id == Document.id, PageRange.status.in_(pending))
    query = select(Document.id).where(
        Document.status.in_([DocStatus.queued, DocStatus.running]), any_range, ~open_range
    )
    if document_ids is not None:
        query = query.where(Document.id.in_(document_ids))
    with db.read_session() as s:
        ids = list(s.scalars(query))
    for doc_id in ids:
        with db.write_session() as s:
            finish_document(s, doc_id)
    return len(ids)


def sweep_database(
    db: Database, settings: WorkerSettings, document_ids: list[int], now: datetime | None = None
) -> SweepReport:
    """The sweep of the direct processes (scheduler/launch/direct.py), who take their work from the database and not
    the broker: the documents' expired ranges back to queued (or failed when out of attempts), and documents
    whose last range was stored but never settled finished. Nothing is sent."""
    expired, failed = _release_expired(db, now or datetime.now(UTC), settings.max_attempts, document_ids)
    return SweepReport(requeued=len(expired), failed=failed, settled=_settle_unfinished(db, document_ids))


def sweep_once(db: Database, settings: WorkerSettings, requeue_after_s: float = 120.0) -> SweepReport:
    now = datetime.now(UTC)
    expired, failed = _release_expired(db, now, settings.max_attempts)
    settled = _settle_unfinished(db)
    stale: list[int] = []
    if queue_depth(settings) in (0, None):
        stale = [i for i in _stale_queued(db, now, requeue_after_s) if i not in set(expired)]
    report = SweepReport(requeued=_send(db, settings, expired + stale), failed=failed, settled=settled)
    report.purged = purge_consumed_messages(settings)
    report.released = _release_held(db, settings)
    report.batch = batch_round(db, settings)
    report.fields = _queue_fields(db, settings)
    report.archived = archive_finished(db, settings)
    if report.requeued or report.failed:
        log.info("sweep: %d ranges sent again, %d failed after their last attempt", report.requeued, failed)
    return report


def _release_held(db: Database, settings: WorkerSettings) -> int:
    """Held ranges go on once the budget has room (a raised limit, a new month)."""
    from worker.budget.hold import release_held
    from worker.budget.limit import build_budget
    from worker.budget.prices import reserve_prices

    budget = build_budget(settings, db)
    try:
        per_page, annotated = reserve_prices(settings)
        return release_held(db, budget, per_page, settings.batch_price / 1000, lambda ids: _send(db, settings, ids),
                            (annotated, settings.annotated_batch_price / 1000))
    finally:
        budget.close()


def batch_round(db: Database, settings: WorkerSettings) -> BatchTick | None:
    """Batch mode's part of the sweep; a failure there is logged and never stops the rest of the sweep."""
    # imported here: batch mode brings the HTTP client, which a local run never needs
    from .batch_poller import batch_tick, has_batch_work

    try:
        if not has_batch_work(db):
            return None
        return batch_tick(db, settings)
    except Exception as exc:
        log.warning("batch round failed: %s: %s", type(exc).__name__, exc)
        return None
def _queue_fields(db: Database, settings: WorkerSettings) -> int:
    _app(settings)  # the tasks go to this broker
    from worker.extraction.tasks import queue_untaken_fields

    return queue_untaken_fields(db)


def archive_finished(db: Database, settings: WorkerSettings, document_ids: list[int] | None = None,
             budget_s: float | None = 30.0) -> int:
    """Finished documents' searchable PDFs into their archive (scheduler/export/archive.py), a bounded while per
    sweep so the other sweeps are not held up; what is left waits for the next one."""
    from models.archive import archive_due

    from ..export.archive import archive_pending  # pikepdf and reportlab load only where there is an archive

    if not archive_due(db, document_ids, limit=1):
        return 0
    return len(archive_pending(db, settings, document_ids, budget_s=budget_s).written)


class Sweeper(threading.Thread):
    """Runs `sweep_once` every `interval_s` until `stop()`."""

    def __init__(self, db: Database, settings: WorkerSettings, interval_s: float = 15.0,
                 requeue_after_s: float = 120.0) -> None:
        super().__init__(name="pagemill-sweeper", daemon=True)
        self.db, self.settings = db, settings
        self.interval_s, self.requeue_after_s = interval_s, requeue_after_s
        self._stop_event = threading.Event()
        self.sweeps = 0

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                sweep_once(self.db, self.settings, self.requeue_after_s)
            except Exception as exc:  # a sweep must never kill its host process (e.g. the database is away)
                log.warning("sweep failed: %s: %s", type(exc).__name__, exc)
            self.sweeps += 1

    def stop(self, timeout_s: float | None = None) -> None:
        self._stop_event.set()
        if timeout_s is not None and self.is_alive():
            self.join(timeout_s)
