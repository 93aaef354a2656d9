"""The Celery settings that make crashes safe (docs/faults.md: a worker killed mid-range loses nothing), each
checked where it takes effect."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from models.tables import PageRange
from scheduler.launch.submit import submit
from tests.conftest import start_worker, wait_until
from tests.e2e._faults import count_document, fault_env, make_pdf, open_db
from worker.settings import WorkerSettings
from worker.tasks.app import app, celery_config, configure
from worker.tasks.ocr import ocr_range


def test_late_acks_requeue_on_worker_loss_and_prefetch_one() -> None:
    conf = celery_config(WorkerSettings())
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_ignore_result"] is True
    assert ocr_range.acks_late and ocr_range.reject_on_worker_lost


def test_soft_limit_comes_before_the_hard_limit() -> None:
    conf = celery_config(WorkerSettings(task_time_limit_s=120))
    assert 0 < conf["task_soft_time_limit"] < conf["task_time_limit"] == 120


@pytest.mark.parametrize("limit,retry_max", [(600, 300.0), (3000, 900.0)])
def test_visibility_timeout_outlasts_any_countdown_plus_the_time_limit(limit: int, retry_max: float) -> None:
    s = WorkerSettings(broker_url="redis://127.0.0.1:6379/15", task_time_limit_s=limit, retry_max_s=retry_max)
    opts = celery_config(s)["broker_transport_options"]
    assert opts["visibility_timeout"] > retry_max + limit
    # kombu's unacked-restore sweep runs every interval x throttle seconds: 10 s, not the default ~100 s
    assert opts["unacked_restore_interval"] * opts["unacked_restore_throttle"] <= 10


def test_the_lease_is_renewed_well_within_itself() -> None:
    from worker.ranges.lease import LeaseKeeper

    s = WorkerSettings()
    assert s.lease_s <= 60 < s.task_time_limit_s  # short lease, renewed while the provider works
    assert LeaseKeeper(None, s.lease_s).interval_s <= s.lease_s / 3  # type: ignore[arg-type]


def test_soft_shutdown_on_sigterm_is_configured() -> None:
    conf = celery_config(WorkerSettings())
    assert conf["worker_soft_shutdown_timeout"] > 0
    assert os.environ.get("REMAP_SIGTERM") == "SIGQUIT"  # SIGTERM starts the soft shutdown


def test_embedded_broker_file_is_owner_only(data_dir: Path) -> None:
    configure(app, WorkerSettings())
    assert (data_dir / "broker.sqlite").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_sigterm_mid_range_puts_the_work_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM while a long range runs: the worker stops within the soft-shutdown window and a new worker
    finishes the document without losing or duplicating pages."""
    env = fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="1.5")
    job = submit([make_pdf(tmp_path / "a.pdf", 16)], wait=False, start_workers=False)
    db = open_db()
    first = start_worker(env, concurrency=1, log=tmp_path / "w.log", args=["--pool", "prefork"])

    def running() -> bool:
        with db.read_session() as s:
            return s.scalar(select(PageRange.id).where(PageRange.status == "running")) is not None

    try:
        assert wait_until(running, 40)
        time.sleep(1)
        started = time.monotonic()
        first.send_signal(signal.SIGTERM)
        first.wait(60)
        assert time.monotonic() - started < 40  # bounded by worker_soft_shutdown_timeout, not by the range
    finally:
        if first.poll() is None:  # failed: never leave a worker running behind the suite
            first.kill()
            first.wait(30)
    from scheduler.sweep.periodic import Sweeper

    sweeper = Sweeper(db, WorkerSettings(), 1.0, 4.0)
    sweeper.start()
    second = start_worker(env, concurrency=2, log=tmp_path / "w.log", args=["--pool", "prefork"])
    try:
        from tests.e2e._faults import wait_done

        assert wait_done(db, job.document_ids, 90), (tmp_path / "w.log").read_text()[-3000:]
    finally:
        sweeper.stop(30)  # joined: a live sweeper would reconfigure the shared Celery app
        second.terminate()
        second.wait(30)
    c = count_document(db, job.document_ids[0])
    assert (c.status, c.pages, c.distinct_pages) == ("done", 16, 16)


@pytest.mark.parametrize(("pool", "concurrency", "connections"), [("threads", 12, 14), ("prefork", 4, 3), ("solo", 1, 3)])
def test_each_worker_thread_keeps_a_database_connection_open(pool: str, concurrency: int, connections: int) -> None:
    from worker.tasks.app import app

    app.close_resources()
    app.WorkController(pool_cls=pool, concurrency=concurrency)  # what `celery worker` builds; sends worker_init
    try:
        assert app.db_connections == connections
        # the process that runs the tasks builds its resources at start, not inside its first tasks
        assert (app._resources is not None) == (pool != "prefork")
        assert app.resources().db.engine.pool.size() == connections  # type: ignore[attr-defined]
    finally:
        app.close_resources()
        app.db_connections = 5
        # a WorkController sets process-wide worker state that would follow later tests in this process:
        # `result.get()` refused as if inside a task, the fast tracer on
        from celery._state import _set_task_join_will_block
        from celery.app.trace import reset_worker_optimizations

        _set_task_join_will_block(False)
        reset_worker_optimizations(app)


def test_threads_asking_at_once_share_one_set_of_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    """A threads pool's first tasks start together: one database pool, HTTP client and lease keeper per process
    (each thread used to build its own, and all but one leaked)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from worker.tasks.app import app
    from worker.tasks.resources import Resources

    built: list[Resources] = []
    real_build = Resources.build

    def counting_build(*args: object, **kwargs: object) -> Resources:
        res = real_build(*args, **kwargs)  # type: ignore[arg-type]
        built.append(res)
        return res

    monkeypatch.setattr(Resources, "build", counting_build)
    app.close_resources()
    start = threading.Barrier(8)

    def first_task(_: int) -> Resources:
        start.wait()
        return app.resources()

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(first_task, range(8)))
    try:
        assert len(built) == 1
        assert len(got) == 8 and all(r is built[0] for r in got)
    finally:
        for res in built[1:]:
            res.close()
        app.close_resources()


def test_a_redis_broker_goes_through_the_transport_that_outlives_a_restart() -> None:
    """redis:// uses worker/tasks/redis_broker.py (tests/e2e/test_worker_redis_restart.py shows why); rediss://
    keeps kombu's own, which turns TLS on from the scheme."""
    from kombu import Connection

    from worker.tasks.redis_broker import TRANSPORT, RedisTransport

    conf = celery_config(WorkerSettings(broker_url="redis://127.0.0.1:6379/15"))
    assert conf["broker_transport"] == TRANSPORT
    conn = Connection(conf["broker_url"], transport=conf["broker_transport"])
    assert isinstance(conn.transport, RedisTransport)
    assert (conn.hostname, conn.port, conn.virtual_host) == ("127.0.0.1", 6379, "15")
    assert celery_config(WorkerSettings(broker_url="rediss://127.0.0.1:6380/0"))["broker_transport"] is None


def test_a_database_outage_in_the_budget_check_retries_the_task(data_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget is asked before each range; when that query meets a database outage (a PostgreSQL cut in the
    soak) the task asks Celery to try again later, like a range's own queries do, instead of failing with a
    traceback and leaving the range to the sweep."""
    from sqlalchemy.exc import OperationalError

    from worker.budget.limit import Budget

    def away(self: Budget, db: object) -> bool:
        raise OperationalError("SELECT jobs.id FROM jobs", {}, ConnectionRefusedError("connection refused"))

    configure(app, WorkerSettings())
    monkeypatch.setattr(Budget, "may_apply", away)
    from celery.exceptions import Retry

    try:
        with pytest.raises(Retry):  # what Celery's worker turns into a retry with a countdown
            ocr_range(1)
    finally:
        app.close_resources()
