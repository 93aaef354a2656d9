"""The production topology without Docker (scripts/run-local-topology.sh): 2 worker processes and a scheduler
watching a folder, on the real Redis and PostgreSQL; 10 files dropped in the folder all end up done."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.db import Database
from models.tables import Document, PageRange
from scheduler.samples import make_image
from tests.conftest import ROOT, wait_until
from tests.prom import free_port, sample, scrape

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

N_DOCS = 10


def _metrics_base() -> int:
    """A base port with the next three free (scheduler, worker 1, worker 2)."""
    for _ in range(20):
        base = free_port()
        if base < 65000 and all(_free(base + i) for i in (1, 2)):
            return base
    raise RuntimeError("no free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_two_workers_and_a_scheduler_process_a_watched_folder(production_env, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    base = _metrics_base()
    env = dict(os.environ)
    env.update(
        WORKERS="2", WORKER_CONCURRENCY="1", METRICS_BASE_PORT=str(base),
        PAGEMILL_CMD=f"{sys.executable} -m scheduler.cli",
        PAGEMILL_WATCH_SETTLE_S="0.5", PAGEMILL_LOG_FORMAT="json", PYTHONPATH=str(ROOT),
    )
    log = tmp_path / "topology.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "run-local-topology.sh"), str(inbox)], env=env,
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    db = Database(production_env["PAGEMILL_DATABASE_URL"])
    try:
        ports = (base, base + 1, base + 2)
        assert wait_until(lambda: all(scrape(p) is not None for p in ports), 90), log.read_text()[-3000:]
        for i in range(N_DOCS):
            make_image(inbox / f"scan-{i:02d}.png", f"Topology document number {i}", dpi=150)

        def all_done() -> bool:
            with db.read_session() as s:
                return s.scalar(select(func.count()).where(Document.status == "done")) == N_DOCS

        assert wait_until(all_done, 180), log.read_text()[-3000:]
        with db.read_session() as s:
            assert s.scalar(select(func.count()).select_from(Document)) == N_DOCS
            holders = set(s.scalars(select(PageRange.worker)))
        # both worker processes took part (a holder is `<celery hostname>:<pid>:<thread>`)
        assert len({h.rsplit(":", 2)[0] for h in holders if h}) == 2

        system = scrape(base)
        assert sample(system, "pagemill_documents", status="done") == N_DOCS
        assert sample(system, "pagemill_queue_depth") == 0
        pages = sum(sample(scrape(p), "pagemill_pages_processed_total") for p in ports[1:])
        assert pages == N_DOCS
    finally:
        db.dispose()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # one SIGTERM stops the whole topology: the script did not need a SIGKILL, and none of its workers or
    # scheduler outlived it
    assert proc.returncode != -signal.SIGKILL, log.read_text()[-3000:]
    assert wait_until(lambda: not _group_alive(proc.pid), 30), "a process of the topology is still running"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
