"""Embedded mode: `pagemill run` starts its own worker processes and stops them when the work is done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from models.db import Database
from models.errors import PagemillError
from worker.settings import WorkerSettings

from ..sweep.periodic import Sweeper

__all__ = ["EmbeddedWorkers", "EmbeddedProcessing"]


class EmbeddedWorkers:
    """One `pagemill worker` process (a prefork pool of `concurrency` children) against the same settings."""

    def __init__(self, data_dir: Path, concurrency: int, extra_env: dict[str, str | None] | None = None) -> None:
        """`extra_env`: variables the worker gets on top of ours (None: unset there), e.g.
        `WorkerSettings.child_env()`, how the command's settings reach its workers."""
        self.data_dir = data_dir
        self.concurrency = max(1, concurrency)
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedWorkers:
        env = dict(os.environ)
        for key, value in self.extra_env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        env["PAGEMILL_DATA_DIR"] = str(self.data_dir.resolve())
        # the worker runs in its own session (so Ctrl-C reaches only us); it exits when we are gone
        env["PAGEMILL_EXIT_WITH_PARENT"] = str(os.getpid())
        # with PostgreSQL no SQLite file has created the data folder yet (the object folder may live elsewhere)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = self.data_dir / "worker.log"
        log = open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "worker", "--concurrency", str(self.concurrency)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop the worker cleanly
        )
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 20.0, idle: bool = False) -> None:
        """Warm shutdown (SIGTERM: running tasks finish or are re-queued). When the caller knows every range
        is finished (`idle`), nothing is in flight and every result is committed, so the worker's process
        group is killed at once: Celery's soft and warm shutdowns would add 5 to 14 s to every `run`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if idle:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> EmbeddedWorkers:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmbeddedProcessing:
    """What `run`, `submit --wait` and `retry` need on the embedded broker: our own worker processes plus a
    frequent sweep (the embedded broker loses in-flight messages when a worker dies; the sweep sends them
    again). Set `finished` once every range is finished: the workers are then stopped at once."""

    # frequent, so a lost range costs seconds
    SWEEP_INTERVAL_S = 2.0
    POLL_S = 0.3  # the wait loop's poll of the database

    def __init__(
        self, db: Database, settings: WorkerSettings, concurrency: int | None = None,
        sweep_interval_s: float | None = None,
    ) -> None:
        from ..settings import SchedulerSettings

        sched = SchedulerSettings()
        self.settings = settings
        # the workers run with these settings (the command's options among them), not just with our environment
        self.workers = EmbeddedWorkers(settings.data_dir, concurrency or sched.embedded_workers or os.cpu_count() or 1,
                                       extra_env=settings.child_env())
        interval = sweep_interval_s or min(sched.sweep_interval_s, self.SWEEP_INTERVAL_S)
        self.sweeper = Sweeper(db, settings, interval, sched.requeue_after_s)
        self.finished = False

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def check(self) -> None:
        """Raise when the worker process died (for wait loops)."""
        if not self.workers.alive():
            raise PagemillError(
                f"the worker process stopped unexpectedly; see {self.settings.data_dir / 'worker.log'}"
            )

    def __enter__(self) -> EmbeddedProcessing:
        self.workers.start()
        self.sweeper.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.sweeper.stop(5)
        self.workers.stop(idle=self.finished)
