"""Shared set-up of the Mistral benchmarks: a loopback /v1/ocr server, N `pagemill worker` processes on a Redis
broker, one submitted PDF, and a wait for its pages. Not a test: prints figures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.db import Database  # noqa: E402
from models.settings import DatabaseSettings  # noqa: E402
from models.tables import Page, PageRange  # noqa: E402
from scheduler.samples import make_born_digital_pdf  # noqa: E402
from tests.fakes.mistral_server import MistralServer  # noqa: E402
from worker.keys import ratelimit_keys  # noqa: E402

REDIS_URL = os.environ.get("PAGEMILL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
KEY = "sk-bench"

__all__ = ["Pipeline", "REDIS_URL", "KEY", "MistralServer"]


class Pipeline:
    """Environment + worker processes for one benchmark run."""

    def __init__(self, server: MistralServer, processes: int, threads: int, env: dict[str, str]) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="pagemill-bench-"))
        self.env = {
            "PAGEMILL_DATA_DIR": str(self.tmp / "data"),
            "PAGEMILL_BROKER_URL": REDIS_URL,
            "PAGEMILL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
            "PAGEMILL_PROVIDER": "mistral",
            "PAGEMILL_OCR_BASE_URL": server.url,
            "MISTRAL_API_KEY": KEY,
            "PAGEMILL_RETRY_BASE_S": "0.5",
            "PAGEMILL_RETRY_MAX_S": "5",
            **env,
        }
        os.environ.update(self.env)
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(*ratelimit_keys("ocr"))
        client.close()
        self.db = Database.from_settings(DatabaseSettings(data_dir=self.tmp / "data"))
        self.db.migrate()
        # PAGEMILL_BENCH_PROFILE=/tmp/prof: cProfile every worker thread, stats in /tmp/prof.<pid> (SIGUSR1 dumps)
        profile = os.environ.get("PAGEMILL_BENCH_PROFILE")
        entry = [str(ROOT / "bench" / "_profile_worker.py")] if profile else ["-m", "scheduler.cli"]
        self.procs = [
            subprocess.Popen(
                [sys.executable, *entry, "worker", "-P", "threads", "-c", str(threads)],
                env=dict(os.environ), cwd=ROOT, start_new_session=True,
                stdout=open(self.tmp / f"worker{i}.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
            )
            for i in range(processes)
        ]
        time.sleep(4)  # workers connect to the broker

    def submit_pdf(self, pages: int, pages_per_task: int) -> None:
        from scheduler.submit import submit

        pdf = make_born_digital_pdf(self.tmp / "in.pdf", [f"Page {i} of the benchmark." for i in range(pages)])
        submit([pdf], pages_per_task=pages_per_task)

    def wait_done(self, timeout_s: float) -> tuple[int, int, int]:
        """(pages stored, ranges done, ranges failed) once nothing is queued or running (or at the timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.db.read_session() as s:
                counts = dict(s.execute(select(PageRange.status, func.count()).group_by(PageRange.status)).all())
                stored = s.scalar(select(func.count()).select_from(Page)) or 0
            if not counts.get("queued") and not counts.get("running") or time.monotonic() > deadline:
                return stored, counts.get("done", 0), counts.get("failed", 0)
            time.sleep(0.5)

    def stop(self) -> None:
        if os.environ.get("PAGEMILL_BENCH_PROFILE"):
            for p in self.procs:
                p.send_signal(signal.SIGUSR1)
            time.sleep(3)
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
