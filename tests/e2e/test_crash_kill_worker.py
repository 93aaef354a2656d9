"""kill -9 of a worker in the middle of a range: the pool child first, then the whole worker.

A new worker (and the sweep) finish the document: every page present exactly once, no duplicate rows or
images, and the usage ledger billed once per page (an interrupted provider call is never billed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.launch.submit import submit
from scheduler.sweep.periodic import Sweeper
from tests.conftest import start_worker, stop_process
from worker.settings import WorkerSettings

from ._faults import (
    count_document,
    fault_env,
    kill9,
    make_pdf,
    open_db,
    report,
    wait_done,
    wait_running_holder_pid,
)

PAGES = 40


def _kill_child_then_worker(tmp_path: Path, env: dict[str, str], fault: str) -> None:
    job = submit([make_pdf(tmp_path / "forty pages.pdf", PAGES)], wait=False, start_workers=False)
    doc_id = job.document_ids[0]
    db = open_db()
    log = tmp_path / "worker.log"
    first = start_worker(env, concurrency=1, log=log, args=["--pool", "prefork"])
    second = None
    try:
        child = wait_running_holder_pid(db)
        assert child != first.pid, "the range runs in a pool child"
        kill9(child)  # the pool child: the worker main process stays and reports the loss
        other = wait_running_holder_pid(db, exclude={child})
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker, main and child, mid-range
        first.wait(10)
        kill9(other)
        second = start_worker(env, concurrency=1, log=log, args=["--pool", "prefork"])
        assert wait_done(db, [doc_id], timeout_s=90), log.read_text(errors="replace")[-3000:]
    finally:
        for p in (first, second):
            if p is not None:
                stop_process(p)
    c = count_document(db, doc_id)
    report(fault, [c])
    assert c.status == "done"
    assert (c.pages, c.distinct_pages) == (PAGES, PAGES)
    assert (c.images, c.distinct_images) == (PAGES, PAGES)
    assert c.billed_pages == PAGES


@pytest.mark.slow
def test_kill9_pool_child_then_whole_worker_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = fault_env(monkeypatch)
    sweeper = Sweeper(open_db(), WorkerSettings(), interval_s=1.0, requeue_after_s=4.0)
    sweeper.start()
    try:
        _kill_child_then_worker(tmp_path, env, "kill -9 pool child, then whole worker (embedded SQLite broker)")
    finally:
        sweeper.stop(30)  # joined: a live sweeper would reconfigure the shared Celery app


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_kill9_pool_child_then_whole_worker_redis_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production_env: dict[str, str]
) -> None:
    env = {**production_env, **fault_env(monkeypatch)}
    # the sweep runs as users run it: `pagemill scheduler`
    sched = subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "scheduler", "--interval", "1"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _kill_child_then_worker(tmp_path, env, "kill -9 pool child, then whole worker (Redis + PostgreSQL)")
    finally:
        stop_process(sched)
    assert sched.returncode == 0


@pytest.mark.slow
def test_poison_range_that_kills_its_worker_is_failed_not_looped(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    env = fault_env(monkeypatch, PAGEMILL_TEST_CRASH_PAGES="5", PAGEMILL_MAX_ATTEMPTS="2",
                    PAGEMILL_TEST_PAGE_DELAY_S="0.05")
    job = submit([make_pdf(tmp_path / "poison.pdf", 8)], pages_per_task=4, wait=False, start_workers=False)
    db = open_db()
    sweeper = Sweeper(db, WorkerSettings(), interval_s=1.0, requeue_after_s=4.0)
    sweeper.start()
    log = tmp_path / "worker.log"
    w = start_worker(env, concurrency=1, log=log, args=["--pool", "prefork"])
    try:
        assert wait_done(db, job.document_ids, 90), log.read_text(errors="replace")[-3000:]
        assert w.poll() is None  # the worker itself survived its pool child being killed twice
    finally:
        sweeper.stop(30)  # joined: a live sweeper would reconfigure the shared Celery app
        stop_process(w)
    c = count_document(db, job.document_ids[0])
    report("poison range kills its pool child every time (max attempts 2)", [c])
    assert (c.status, c.distinct_pages, c.duplicates) == ("partial", 4, 0)
    from sqlalchemy import select

    from models.tables import PageRange

    with db.read_session() as s:
        bad = s.scalars(select(PageRange).where(PageRange.status == "failed")).one()
    assert bad.attempts == 2 and "gave up after 2 attempts" in (bad.error or "")
