"""The services go away for a moment: Redis restarts mid-batch, PostgreSQL becomes unreachable. The work
resumes when they return, without losing or duplicating pages."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.tables import Page
from scheduler.launch.submit import submit
from scheduler.sweep.periodic import Sweeper
from tests.conftest import start_worker, stop_process, wait_until
from worker.settings import WorkerSettings

from ._faults import count_document, fault_env, make_pdf, open_db, report, wait_done
from ._proxy import CuttableProxy, free_port


def _stored_pages(db) -> int:  # type: ignore[no-untyped-def]
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(Page)) or 0


def _redis_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    assert wait_until(lambda: _pings(client), 10), "redis-server did not start"
    client.close()
    return proc


def _pings(client) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.mark.slow
@pytest.mark.postgres
def test_redis_restart_in_the_middle_of_a_batch_of_20(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production_env: dict[str, str]
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: this test restarts a Redis of its own")
    port = free_port()
    redis_proc = _redis_server(port)
    env = {**production_env, **fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="0.15")}
    env["PAGEMILL_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setenv("PAGEMILL_BROKER_URL", env["PAGEMILL_BROKER_URL"])
    files = [make_pdf(tmp_path / f"doc {i:02d}.pdf", 3, seed=i) for i in range(20)]
    job = submit(files, pages_per_task=1, wait=False, start_workers=False)
    db = open_db()
    sweeper = Sweeper(db, WorkerSettings(), interval_s=1.0, requeue_after_s=4.0)
    sweeper.start()
    worker = start_worker(env, concurrency=2, log=tmp_path / "w.log", args=["--pool", "prefork"])
    try:
        assert wait_until(lambda: _stored_pages(db) >= 12, 60)
        redis_proc.terminate()  # no persistence: every queued message is gone
        redis_proc.wait(10)
        time.sleep(3)
        redis_proc = _redis_server(port)
        assert wait_done(db, job.document_ids, 110), (tmp_path / "w.log").read_text(errors="replace")[-3000:]
    finally:
        sweeper.stop(30)  # joined: a live sweeper would reconfigure the shared Celery app
        stop_process(worker)
        redis_proc.terminate()
        redis_proc.wait(10)
    counts = [count_document(db, d) for d in job.document_ids]
    report("Redis restarted mid-batch (20 documents, no persistence)", counts)
    assert all(c.status == "done" for c in counts)
    assert sum(c.lost for c in counts) == 0 and sum(c.duplicates for c in counts) == 0


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_database_unreachable_for_a_few_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production_env: dict[str, str]
) -> None:
    env = {**production_env, **fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="0.2")}
    job = submit([make_pdf(tmp_path / "forty.pdf", 40)], pages_per_task=4, wait=False, start_workers=False)
    proxy = CuttableProxy(5432)
    env["PAGEMILL_DATABASE_URL"] = env["PAGEMILL_DATABASE_URL"].replace(":5432/", f":{proxy.port}/")
    monkeypatch.setenv("PAGEMILL_DATABASE_URL", env["PAGEMILL_DATABASE_URL"])
    db_via_proxy = open_db()
    monkeypatch.setenv("PAGEMILL_DATABASE_URL", production_env["PAGEMILL_DATABASE_URL"])
    db = open_db()  # the test's own view, not through the proxy
    sweeper = Sweeper(db_via_proxy, WorkerSettings(), interval_s=1.0, requeue_after_s=4.0)
    sweeper.start()
    worker = start_worker(env, concurrency=2, log=tmp_path / "w.log", args=["--pool", "prefork"])
    try:
        assert wait_until(lambda: _stored_pages(db) >= 8, 60)
        proxy.cut()
        time.sleep(5)
        proxy.restore()
        assert wait_done(db, job.document_ids, 90), (tmp_path / "w.log").read_text(errors="replace")[-3000:]
    finally:
        sweeper.stop(30)  # joined: a live sweeper would reconfigure the shared Celery app
        stop_process(worker)
        proxy.close()
    c = count_document(db, job.document_ids[0])
    report("PostgreSQL unreachable for 5 s (connections cut)", [c])
    assert c.status == "done" and c.lost == 0 and c.duplicates == 0


@pytest.mark.slow
def test_sqlite_locked_for_a_few_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Embedded: another process holds an exclusive lock on the database file; workers wait, then go on."""
    import sqlite3

    env = fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="0.2")
    job = submit([make_pdf(tmp_path / "forty.pdf", 40)], pages_per_task=4, wait=False, start_workers=False)
    db = open_db()
    worker = start_worker(env, concurrency=2, log=tmp_path / "w.log", args=["--pool", "prefork"])
    try:
        assert wait_until(lambda: _stored_pages(db) >= 8, 60)
        lock = sqlite3.connect(WorkerSettings().data_dir / "pagemill.sqlite", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        time.sleep(5)
        lock.execute("COMMIT")
        lock.close()
        assert wait_done(db, job.document_ids, 90), (tmp_path / "w.log").read_text(errors="replace")[-3000:]
    finally:
        stop_process(worker)
    c = count_document(db, job.document_ids[0])
    report("SQLite file locked exclusively for 5 s", [c])
    assert c.status == "done" and c.lost == 0 and c.duplicates == 0
