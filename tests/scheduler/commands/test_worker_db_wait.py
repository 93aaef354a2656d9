"""`pagemill worker` started while PostgreSQL is unreachable (the hour soak: a supervisor restarted a worker
during a PostgreSQL cut and it exited with a traceback, twice): it says where it waits, keeps waiting, and takes
work once the database answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL, ROOT, _reachable, stop_process, wait_until
from tests.e2e._proxy import CuttableProxy

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_worker_waits_for_an_unreachable_database_then_starts(tmp_path: Path) -> None:
    if not _reachable(POSTGRES_URL, 5432):
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    if not _reachable(REDIS_URL, 6379):
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    proxy = CuttableProxy(5432)
    proxy.cut()  # the database is "down" when the worker starts
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(PYTHONPATH=str(ROOT), PAGEMILL_DATA_DIR=str(tmp_path / "data"),
               PAGEMILL_DATABASE_URL=POSTGRES_URL.replace(":5432/", f":{proxy.port}/"),
               PAGEMILL_BROKER_URL=REDIS_URL, PAGEMILL_QUEUE=f"pagemill-test-{uuid.uuid4().hex[:8]}")
    log = tmp_path / "worker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "worker", "-c", "1"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def text() -> str:
        return log.read_text(errors="replace")

    try:
        assert wait_until(lambda: "database unreachable at" in text(), 30), text()[-3000:]
        time.sleep(2.5)  # a second attempt, still down
        assert proc.poll() is None, "the worker exited while the database was away:\n" + text()[-3000:]
        assert "Traceback" not in text(), text()
        proxy.restore()
        # Celery's banner lists the queue once the worker has started
        assert wait_until(lambda: env["PAGEMILL_QUEUE"] in text(), 60), text()[-3000:]
        time.sleep(1)
        assert proc.poll() is None, text()[-3000:]
    finally:
        stop_process(proc)  # a threads-pool worker is one process
        proxy.close()
