"""Flower, started for real on 127.0.0.1 against the Redis broker, shows the tasks of a small run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from models.db import Database
from models.tables import PageRange
from scheduler.samples import make_image
from tests.conftest import start_worker, stop_process, wait_until
from tests.prom import free_port

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def _api(port: int, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def test_flower_lists_the_tasks_of_a_run(production_env, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, FLOWER_UNAUTHENTICATED_API="true")
    flower = subprocess.Popen(
        [sys.executable, "-m", "celery", f"--broker={production_env['PAGEMILL_BROKER_URL']}", "flower",
         "--address=127.0.0.1", f"--port={port}"],
        env=env, stdout=open(tmp_path / "flower.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = start_worker({"PAGEMILL_TASK_EVENTS": "1"}, concurrency=2, log=tmp_path / "worker.log")
    db = Database(production_env["PAGEMILL_DATABASE_URL"])
    try:
        assert wait_until(lambda: _api(port, "/api/tasks") is not None, 60), (tmp_path / "flower.log").read_text()
        inbox = tmp_path / "in"
        inbox.mkdir()
        for i in range(2):
            make_image(inbox / f"p{i}.png", f"Flower page {i}", dpi=150)
        subprocess.run([sys.executable, "-m", "scheduler.cli", "submit", str(inbox)], check=True,
                       capture_output=True)

        def done() -> bool:
            with db.read_session() as s:
                return s.scalar(select(func.count()).where(PageRange.status == "done")) == 2

        assert wait_until(done, 90), (tmp_path / "worker.log").read_text()[-3000:]
        with db.read_session() as s:
            range_ids = sorted(s.scalars(select(PageRange.id)))
            hostname = next(iter(s.scalars(select(PageRange.worker)))).rsplit(":", 2)[0]

        def ours() -> list[dict[str, Any]]:
            tasks = _api(port, "/api/tasks") or {}
            return [t for t in tasks.values() if t.get("worker") == hostname and t.get("state") == "SUCCESS"]

        assert wait_until(lambda: len(ours()) == 2, 30), _api(port, "/api/tasks")
        tasks = ours()
        assert {t["name"] for t in tasks} == {"pagemill.ocr_range"}
        assert sorted(json.loads(t["args"].replace("(", "[").replace(")", "]").replace(",]", "]"))[0]
                      for t in tasks) == range_ids
        assert all(t["result"] == "'done'" for t in tasks)
        # and the worker itself, asked through the broker (inspect)
        assert wait_until(lambda: hostname in (_api(port, "/api/workers?refresh=1") or {}), 30)
    finally:
        db.dispose()
        stop_process(worker)
        stop_process(flower)
