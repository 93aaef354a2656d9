"""The sweep: the database decides what still needs doing, whatever the broker lost."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from models.tables import PageRange
from scheduler.launch.submit import submit
from scheduler.sweep.periodic import purge_consumed_messages, queue_depth, sweep_once
from tests.e2e._faults import fault_env, make_pdf, open_db
from worker.settings import WorkerSettings


def _ranges(db) -> list[PageRange]:  # type: ignore[no-untyped-def]
    with db.read_session() as s:
        return list(s.scalars(select(PageRange).order_by(PageRange.id)))


def test_expired_lease_is_requeued_and_exhausted_one_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fault_env(monkeypatch, PAGEMILL_MAX_ATTEMPTS="3")
    submit([make_pdf(tmp_path / "a.pdf", 16)], pages_per_task=8, wait=False, start_workers=False)
    db = open_db()
    past = datetime.now(UTC) - timedelta(seconds=5)
    with db.write_session() as s:
        first, second = s.scalars(select(PageRange).order_by(PageRange.id)).all()
        for r, attempts in ((first, 1), (second, 3)):
            r.status, r.attempts, r.lease_expires_at, r.worker = "running", attempts, past, "dead:1:1"
    report = sweep_once(db, WorkerSettings(), requeue_after_s=3600)
    assert (report.requeued, report.failed) == (1, 1)
    a, b = _ranges(db)
    assert (a.status, a.error_code) == ("queued", "worker_lost")
    assert b.status == "failed" and "gave up after 3 attempts" in (b.error or "")


def test_lost_messages_are_sent_again_only_when_the_queue_is_empty(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fault_env(monkeypatch)
    submit([make_pdf(tmp_path / "a.pdf", 16)], pages_per_task=8, wait=False, start_workers=False)
    db, settings = open_db(), WorkerSettings()
    assert queue_depth(settings) == 2
    # the queue still holds their messages: nothing is duplicated
    assert sweep_once(db, settings, requeue_after_s=0).requeued == 0
    broker = sqlite3.connect(settings.data_dir / "broker.sqlite")
    with broker:
        broker.execute("UPDATE kombu_message SET visible = 0")  # as if a worker took them and died
    assert queue_depth(settings) == 0
    report = sweep_once(db, settings, requeue_after_s=0)
    assert report.requeued == 2
    assert report.purged == 2  # consumed rows are deleted, the new messages stay
    assert queue_depth(settings) == 2
    # just sent: not again until requeue_after_s has passed
    with broker:
        broker.execute("UPDATE kombu_message SET visible = 0")
    assert sweep_once(db, settings, requeue_after_s=3600).requeued == 0
    broker.close()


def test_purge_without_any_message_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    fault_env(monkeypatch)
    assert purge_consumed_messages(WorkerSettings()) == 0


def test_a_document_left_running_after_its_last_range_is_finished_by_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker stored its range, then died before finishing the document (settle_document)."""
    from models.tables import Document

    fault_env(monkeypatch)
    job = submit([make_pdf(tmp_path / "a.pdf", 16), make_pdf(tmp_path / "b.pdf", 8, seed=1)], pages_per_task=8,
                 wait=False, start_workers=False)
    stuck, busy = job.document_ids
    db = open_db()
    now = datetime.now(UTC)
    with db.write_session() as s:
        for doc in s.scalars(select(Document)):
            doc.status = "running"
        for r in s.scalars(select(PageRange)):
            if r.document_id == stuck:  # every range stored, the document never settled
                r.status, r.attempts, r.finished_at = "done", 1, now
            else:  # still being worked on: not the sweep's to finish
                r.status, r.attempts, r.worker, r.lease_expires_at = "running", 1, "w:1:1", now + timedelta(60)
    report = sweep_once(db, WorkerSettings(), requeue_after_s=3600)
    assert report.settled == 1
    with db.read_session() as s:
        assert s.get(Document, stuck).status == "done"  # type: ignore[union-attr]
        assert s.get(Document, busy).status == "running"  # type: ignore[union-attr]
    assert sweep_once(db, WorkerSettings(), requeue_after_s=3600).settled == 0
