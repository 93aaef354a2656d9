"""`pagemill scheduler` started while PostgreSQL is unreachable (issue 39: it exited with a traceback, so a
supervisor restarting everything after a reboot lost its sweeps until someone looked): it says where it waits
and why, keeps waiting, and starts sweeping once the database answers; SIGTERM while it waits ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, ROOT, _reachable, wait_until
from tests.e2e._proxy import CuttableProxy

pytestmark = [pytest.mark.postgres]


def _start(tmp_path: Path, db_url: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(PYTHONPATH=str(ROOT), PAGEMILL_DATA_DIR=str(tmp_path / "data"), PAGEMILL_DATABASE_URL=db_url,
               PAGEMILL_BROKER_URL="redis://127.0.0.1:1/0", PAGEMILL_QUEUE=f"pagemill-test-{uuid.uuid4().hex[:8]}",
               PAGEMILL_SWEEP_INTERVAL_S="1")
    log = tmp_path / "scheduler.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "scheduler"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def _text(log: Path) -> str:
    return log.read_text(errors="replace")


def test_scheduler_waits_for_an_unreachable_database_then_sweeps(tmp_path: Path) -> None:
    if not _reachable(POSTGRES_URL, 5432):
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    proxy = CuttableProxy(5432)
    proxy.cut()  # connections refused: the database is "down" when the scheduler starts
    url = POSTGRES_URL.replace(":5432/", f":{proxy.port}/")
    proc, log = _start(tmp_path, url)
    try:
        assert wait_until(lambda: "database unreachable at" in _text(log), 30), _text(log)[-3000:]
        time.sleep(2.5)  # a second attempt, still down
        assert proc.poll() is None, "the scheduler exited while the database was away:\n" + _text(log)[-3000:]
        out = _text(log)
        assert f"127.0.0.1:{proxy.port}" in out and "retrying in 1 s" in out and "retrying in 2 s" in out, out
        assert "Traceback" not in out, out
        proxy.restore()
        assert wait_until(lambda: "scheduler: sweeping every" in _text(log), 40), _text(log)[-3000:]
        assert proc.poll() is None, _text(log)[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        proxy.close()


def test_sigterm_while_waiting_for_the_database_ends_the_scheduler_cleanly(tmp_path: Path) -> None:
    from tests.e2e._proxy import free_port

    port = free_port()  # nothing listens there
    proc, log = _start(tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    try:
        assert wait_until(lambda: "database unreachable at" in _text(log), 30), _text(log)[-3000:]
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert proc.returncode == 0, _text(log)[-3000:]
    assert "Traceback" not in _text(log), _text(log)
