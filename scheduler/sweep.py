"""Periodic sweeps: the database, not the broker, decides what still needs doing.

A range whose lease expired (its worker died) or that has waited in `queued` longer than `requeue_after_s`
(its message was lost, e.g. the embedded broker drops in-flight messages on kill -9) is sent again. Sending
twice is harmless: tasks skip ranges that are done or leased by a live worker.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select

from models.db import Database
from models.tables import PageRange, RangeStatus
from worker.settings import WorkerSettings

__all__ = ["SweepReport", "sweep_once", "Sweeper"]

log = logging.getLogger("pagemill.sweep")


@dataclass
class SweepReport:
    requeued: int = 0


def sweep_once(db: Database, settings: WorkerSettings, requeue_after_s: float = 120.0) -> SweepReport:
    from worker.celery_app import app, configure
    from worker.tasks import enqueue_range

    if app.settings != settings:
        configure(app, settings)
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=requeue_after_s)
    with db.write_session() as s:
        rows = s.scalars(
            select(PageRange).where(
                or_(
                    (PageRange.status == RangeStatus.running) & (PageRange.lease_expires_at < now),
                    (PageRange.status == RangeStatus.queued)
                    & or_(PageRange.enqueued_at.is_(None), PageRange.enqueued_at < stale)
                    & or_(PageRange.not_before.is_(None), PageRange.not_before < now),
                )
            )
        ).all()
        ids = []
        for r in rows:
            if r.status == RangeStatus.running:
                r.status = RangeStatus.queued
                r.error = r.error or "the worker was lost while processing this range"
            r.enqueued_at = now
            ids.append(r.id)
    for rid in ids:
        enqueue_range(rid)
    if ids:
        log.info("sweep re-enqueued %d ranges", len(ids))
    return SweepReport(requeued=len(ids))


class Sweeper(threading.Thread):
    """Runs `sweep_once` every `interval_s` until `stop()`."""

    def __init__(self, db: Database, settings: WorkerSettings, interval_s: float = 15.0,
                 requeue_after_s: float = 120.0) -> None:
        super().__init__(name="pagemill-sweeper", daemon=True)
        self.db, self.settings = db, settings
        self.interval_s, self.requeue_after_s = interval_s, requeue_after_s
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                sweep_once(self.db, self.settings, self.requeue_after_s)
            except Exception:  # a sweep must never kill its host process
                log.exception("sweep failed")

    def stop(self) -> None:
        self._stop_event.set()
