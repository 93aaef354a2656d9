"""Shared set-up of the Mistral benchmarks: a loopback /v1/ocr server, N `pagemill worker` processes on a Redis
broker, one submitted PDF, and a wait for its pages. Not a test: prints figures.

Results go to an SQLite file in a temporary data folder (embedded), or to PostgreSQL (production) when a
`database_url` is given: `postgres_schema()` makes a throwaway schema and drops it afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from urllib.parse import quote

import redis
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Page, PageRange
from scheduler.samples import make_born_digital_pdf
from tests.fakes.mistral_server import MistralServer
from worker.keys import ratelimit_keys

REDIS_URL = os.environ.get("PAGEMILL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
POSTGRES_URL = os.environ.get("PAGEMILL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEY = "sk-bench"

__all__ = ["Pipeline", "services_cpu_s", "REDIS_URL", "POSTGRES_URL", "KEY", "MistralServer", "postgres_schema"]


@contextmanager
def postgres_schema(base_url: str = POSTGRES_URL) -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped on exit."""
    schema = f"pm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def services_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by the PostgreSQL and Redis processes of this machine (every backend), so a run can
    charge the database's and the broker's work per range, not only the workers'."""
    names = {"postgres": "PostgreSQL", "redis-server": "Redis"}
    total = dict.fromkeys(names.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm in names:
            fields = stat.rsplit(")", 1)[1].split()
            total[names[comm]] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Pipeline:
    """Environment + worker processes for one benchmark run."""

    def __init__(
        self, server: MistralServer, processes: int, threads: int, env: dict[str, str],
        database_url: str | None = None,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="pagemill-bench-"))
        os.environ.pop("PAGEMILL_DATABASE_URL", None)  # a previous run's PostgreSQL must not leak into this one
        self.env = {
            "PAGEMILL_DATA_DIR": str(self.tmp / "data"),
            "PAGEMILL_BROKER_URL": REDIS_URL,
            "PAGEMILL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
            "PAGEMILL_PROVIDER": "mistral",
            "PAGEMILL_OCR_BASE_URL": server.url,
            "MISTRAL_API_KEY": KEY,
            "PAGEMILL_RETRY_BASE_S": "0.5",
            "PAGEMILL_RETRY_MAX_S": "5",
            **({"PAGEMILL_DATABASE_URL": database_url} if database_url else {}),
            **env,
        }
        os.environ.update(self.env)
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(*ratelimit_keys("ocr"))
        client.close()
        self.db = Database.from_settings(DatabaseSettings(data_dir=self.tmp / "data", database_url=database_url))
        self.db.migrate()
        # PAGEMILL_BENCH_PROFILE=/tmp/prof: cProfile every worker thread, stats in /tmp/prof.<pid> (SIGUSR1 dumps)
        profile = os.environ.get("PAGEMILL_BENCH_PROFILE")
        entry = [str(ROOT / "bench" / "_profile_worker.py")] if profile else ["-m", "scheduler.cli"]
        self.procs = [
            subprocess.Popen(
                [sys.executable, *entry, "worker", "-P", "threads", "-c", str(threads)],
                env=dict(os.environ), cwd=ROOT, start_new_session=True,
                stdout=open(self.tmp / f"worker{i}.log", "ab"), stderr=subprocess.STDOUT,
            )
            for i in range(processes)
        ]
        self._wait_ready(processes, 120)
        self.cpu_at_start = self.worker_cpu_s()
        self.services_at_start = services_cpu_s()

    def _wait_ready(self, processes: int, timeout_s: float) -> None:
        """Until every worker answers a ping: started, resources built, consuming. A fixed pause (4 s) was too
        short on a loaded 2-core machine, and the runs then counted the last workers' start-up (imports, ~5 s
        of CPU each) against the pipeline."""
        from worker.settings import WorkerSettings
        from worker.tasks.app import app, configure

        configure(app, WorkerSettings())  # this process's environment now names the bench's broker
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise SystemExit(f"a worker exited at start (see {self.tmp}/worker*.log)")
            if len(app.control.ping(timeout=1.0)) >= processes:
                time.sleep(0.5)  # the consumers' first BRPOP
                return
        raise SystemExit(f"the workers did not start within {timeout_s:.0f} s (see {self.tmp}/worker*.log)")

    def worker_cpu_s(self) -> float:
        """CPU seconds used so far by all worker processes."""
        return sum(_cpu_s(p.pid) for p in self.procs if p.poll() is None)

    @staticmethod
    def sample_pdf(pages: int, folder: Path | None = None) -> Path:
        folder = folder or Path(tempfile.mkdtemp(prefix="pagemill-bench-"))
        return make_born_digital_pdf(folder / "in.pdf", [f"Page {i} of the benchmark." for i in range(pages)])

    def submit_pdf(self, pages: int, pages_per_task: int) -> None:
        self.submit_file(self.sample_pdf(pages, self.tmp), pages_per_task)

    def submit_file(self, path: Path, pages_per_task: int) -> None:
        from scheduler.launch.submit import submit

        submit([path], pages_per_task=pages_per_task)

    def wait_done(self, timeout_s: float) -> tuple[int, int, int]:
        """(pages stored, ranges done, ranges failed) once nothing is queued or running (or at the timeout)."""
        deadline = time.monotonic() + timeout_s
        pending = select(func.count()).select_from(PageRange).where(PageRange.status.in_(["queued", "running"]))
        while True:
            # a cheap indexed count, not often: this process also hosts the server, and the time measured is
            # the last range's commit, not the moment this loop notices it
            with self.db.read_session() as s:
                left = s.scalar(pending) or 0
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        with self.db.read_session() as s:
            counts = dict(s.execute(select(PageRange.status, func.count()).group_by(PageRange.status)).all())
            stored = s.scalar(select(func.count()).select_from(Page)) or 0
        return stored, counts.get("done", 0), counts.get("failed", 0)

    def last_finished(self) -> float:
        """Epoch seconds of the last range's commit (precise, unlike the moment a poll noticed it)."""
        with self.db.read_session() as s:
            ts = s.scalar(select(func.max(PageRange.finished_at)))
        if ts is None:
            return time.time()
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()

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
        self.db.dispose()
