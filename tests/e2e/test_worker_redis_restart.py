"""A `pagemill worker` outlives a Redis restart (issue 39: the soak saw workers exit in kombu's
`restore_unacked` with `'NoneType' object has no attribute 'hostname'` each time its Redis came back while
ranges were running). The same process must stay up and take new work once Redis is back."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.tables import Page, PageRange, RangeStatus
from scheduler.launch.submit import submit
from tests.conftest import start_worker, stop_process, wait_until

from ._faults import fault_env, make_pdf, open_db, wait_done
from ._proxy import free_port


def _redis_server(port: int) -> subprocess.Popen[bytes]:
    import redis

    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    client = redis.Redis(port=port)

    def pings() -> bool:
        try:
            return bool(client.ping())
        except Exception:
            return False

    assert wait_until(pings, 10), "redis-server did not start"
    client.close()
    return proc


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_worker_stays_up_across_a_redis_restart_and_takes_new_work(
    pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production_env: dict[str, str]
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: this test restarts a Redis of its own")
    port = free_port()
    redis_proc = _redis_server(port)
    env = {**production_env, **fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="2")}
    env["PAGEMILL_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setenv("PAGEMILL_BROKER_URL", env["PAGEMILL_BROKER_URL"])
    db = open_db()
    # three ranges of 2 pages at 2 s a page for four slots: ranges run (their messages delivered, not yet
    # acked) while the consumer still waits for more: the state in which Redis going away killed the worker
    submit([make_pdf(tmp_path / "busy.pdf", 6, seed=1)], pages_per_task=2, wait=False,
           start_workers=False)
    log = tmp_path / "w.log"
    worker = start_worker(env, concurrency=4, log=log, args=["--pool", pool])

    def running() -> int:
        with db.read_session() as s:
            return s.scalar(select(func.count()).select_from(PageRange)
                            .where(PageRange.status == RangeStatus.running)) or 0

    def stored(doc_ids: list[int]) -> int:
        with db.read_session() as s:
            return s.scalar(select(func.count()).select_from(Page).where(Page.document_id.in_(doc_ids))) or 0

    try:
        assert wait_until(lambda: running() >= 2, 60), log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
        redis_proc.kill()
        redis_proc.wait(10)
        time.sleep(3)
        redis_proc = _redis_server(port)
        time.sleep(15)  # the consumer reconnects; the crash came within seconds of Redis coming back
        assert worker.poll() is None, "the worker exited after Redis restarted:\n" + log.read_text(
            errors="replace")[-4000:]
        second = submit([make_pdf(tmp_path / "after.pdf", 2, seed=2)], pages_per_task=2, wait=False,
                        start_workers=False)
        assert wait_done(db, second.document_ids, 60), "no new work taken after the restart:\n" + log.read_text(
            errors="replace")[-4000:]
        assert stored(second.document_ids) == 2
        assert worker.poll() is None, log.read_text(errors="replace")[-4000:]
        assert "no attribute 'hostname'" not in log.read_text(errors="replace")
    finally:
        stop_process(worker)
        redis_proc.kill()
        redis_proc.wait(10)
