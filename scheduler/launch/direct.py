"""Direct processing: a small embedded `pagemill run` OCRs with processes forked from itself, without a broker.

Celery workers start as a fresh interpreter: on 2 cores one took 1.5-3 s to load everything and be ready,
more than the OCR of a few pages. Direct processes are forked from the command once intake is done, so they
start with its modules loaded, and they take their ranges from the database, not from a broker. Each range
goes through the code a Celery task calls (worker/ranges/run.py `run_range`: the claim with its lease and
attempt count, the provider, the store), so the guarantees are the same:

- a range is claimed under its row lock: two processes (or the Celery worker of another command) never both
  run it;
- a process killed in the middle of a range (kill -9, the OOM killer, an engine crash) leaves a lease held by
  a dead pid: another process starts, takes the range over at once and counts the attempt, so a range that
  kills every process fails after PAGEMILL_MAX_ATTEMPTS instead of looping;
- a range still running 30 s before PAGEMILL_TASK_TIME_LIMIT_S gets SoftTimeLimitExceeded, as from Celery,
  and its process is killed at the limit;
- a kill -9 of the command kills its processes (parent-death signal); their leases run out and the next sweep
  queues the ranges again, as after a kill -9 of Celery workers; Ctrl-C hands them back at once;
- a retry (rate limit, database away) waits in the database (`not_before`) and is taken again when due.

When it applies (`direct_applies`): `run` and `submit --wait` on the embedded broker (no
PAGEMILL_BROKER_URL) with the local engine, the vision step off, on Linux, and at most
PAGEMILL_DIRECT_MAX_PAGES pages to OCR (default 100; 0 turns it off). Otherwise Celery workers are started
(scheduler/launch/embedded.py).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from select import select as wait_readable
from types import FrameType, TracebackType
from typing import Any

from sqlalchemy import or_, select, update

from models.db import Database
from models.errors import PagemillError
from models.tables import PageRange, RangeStatus
from worker.settings import WorkerSettings

from ..settings import SchedulerSettings
from ..sweep.periodic import archive_finished, sweep_database

__all__ = ["DirectProcessing", "direct_applies"]

log = logging.getLogger("pagemill.direct")

_LOCAL_PROVIDERS = ("tesseract", "local")
_SOFT_MARGIN_S = 30  # the soft time limit comes this long before the hard one, as in worker/tasks/app.py
_IDLE_POLL_S = 0.05  # how often an idle process looks for work (a read of a few rows)
_SETUP_FAILED = 3  # exit code of a process that could not build its resources (engine, database)
# processes that died between ranges (a range's own deaths are bounded by its attempts): more means something
# other than a range kills them, and starting more would loop
_MAX_IDLE_DEATHS = 3
_PR_SET_PDEATHSIG = 1
_R = PageRange.__table__


def direct_applies(settings: WorkerSettings, pages: int) -> bool:
    """Whether `pages` pages to OCR go to direct processes rather than to Celery workers (module docstring)."""
    from worker.vision.settings import VisionSettings

    limit = SchedulerSettings().direct_max_pages
    return (
        0 < limit
        and pages <= limit
        and settings.embedded_broker
        and settings.provider in _LOCAL_PROVIDERS
        and not VisionSettings().enabled
        # a schema's fields are extracted by Celery tasks (worker/extraction/tasks.py), which direct runs lack
        and not settings.extracts
        and sys.platform.startswith("linux")
    )


@dataclass(frozen=True)
class _Plan:
    """What a direct process needs: it is forked, so it gets the command's settings as they are."""

    settings: WorkerSettings
    worker_id: str
    document_ids: tuple[int, ...]
    log_path: Path


class DirectProcessing:
    """The direct processes of one command, as a context manager like EmbeddedProcessing: `check()` from the
    wait loop (replaces dead processes, enforces the time limit, sweeps), `finished` once every range is."""

    SWEEP_INTERVAL_S = 2.0
    # the wait loop's longest pause between checks; a process that finishes a range wakes it at once (`pause`)
    POLL_S = 0.5

    def __init__(self, db: Database, settings: WorkerSettings, document_ids: list[int],
                 processes: int | None = None) -> None:
        self.db, self.settings = db, settings
        self.document_ids = sorted(set(document_ids))
        self.processes = max(1, processes or SchedulerSettings().embedded_workers or os.cpu_count() or 1)
        self.plan = _Plan(settings, f"pagemill-direct-{uuid.uuid4().hex[:8]}@{socket.gethostname()}",
                          tuple(self.document_ids), settings.data_dir / "worker.log")
        self._ctx = multiprocessing.get_context("fork")
        self._procs: list[Any] = []
        self._clock: Any = None  # per process: time.monotonic() when its current range started, 0.0 when idle
        self._signalled: set[tuple[int, float]] = set()
        self._idle_deaths = 0
        self._wake: tuple[int, int] | None = None  # a pipe: each process writes a byte when it finished a range
        self._next_sweep = 0.0
        self.finished = False

    def __enter__(self) -> DirectProcessing:
        self._start_all()
        self._next_sweep = time.monotonic() + self.SWEEP_INTERVAL_S
        return self

    def _start_all(self) -> None:
        """As many processes as there are ranges to run, up to `processes`; none while there is nothing (the
        documents are done, or another live command runs their ranges: the sweep may give them back later)."""
        n = min(self.processes, self._open_ranges())
        if n == 0:
            return
        _preload()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._clock = self._ctx.Array("d", n, lock=False)
        self._wake = os.pipe()
        for fd in self._wake:
            os.set_blocking(fd, False)
        self._procs = [None] * n
        for slot in range(n):
            self._start(slot)

    def _open_ranges(self) -> int:
        with self.db.read_session() as s:
            return len(s.scalars(select(PageRange.id).where(
                PageRange.document_id.in_(self.document_ids),
                PageRange.status.in_([RangeStatus.queued, RangeStatus.running]),
            )).all())

    def _start(self, slot: int) -> None:
        self._clock[slot] = 0.0
        assert self._wake is not None
        proc = self._ctx.Process(target=_serve, args=(self.plan, self._clock, slot, os.getpid(), self._wake[1]),
                                 name=f"pagemill-direct-{slot}", daemon=True)
        proc.start()
        self._procs[slot] = proc

    def pause(self, seconds: float) -> None:
        """Wait up to `seconds`, less when a process finishes a range (the progress is read again then)."""
        if self._wake is None:
            time.sleep(seconds)
            return
        ready, _, _ = wait_readable([self._wake[0]], [], [], seconds)
        if ready:
            try:
                while os.read(self._wake[0], 4096):
                    pass
            except BlockingIOError:
                pass

    def check(self) -> None:
        """Replace processes that died, stop ranges past their time limit, and sweep every few seconds."""
        now = time.monotonic()
        hard = float(self.settings.task_time_limit_s)
        soft = max(1.0, hard - _SOFT_MARGIN_S)
        for slot, proc in enumerate(self._procs):
            if not proc.is_alive():
                if proc.exitcode == _SETUP_FAILED:
                    raise PagemillError(f"the OCR process could not start; see {self.plan.log_path}")
                if not self._clock[slot]:
                    self._idle_deaths += 1
                    if self._idle_deaths > _MAX_IDLE_DEATHS:
                        raise PagemillError(f"the OCR processes keep stopping; see {self.plan.log_path}")
                log.warning("OCR process %s stopped (exit code %s); starting another", proc.pid, proc.exitcode)
                self._start(slot)
                continue
            started = self._clock[slot]
            if not started:
                continue
            if now - started > hard:
                os.kill(proc.pid, signal.SIGKILL)  # replaced at the next check; the range is taken over
            elif now - started > soft and (slot, started) not in self._signalled:
                self._signalled.add((slot, started))
                os.kill(proc.pid, signal.SIGUSR1)
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_INTERVAL_S
            sweep_database(self.db, self.settings, self.document_ids)
            archive_finished(self.db, self.settings, self.document_ids, budget_s=2.0)  # --archive, as they finish
            if not self._procs:
                self._start_all()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # idle once finished (every result committed), and otherwise stopped for good: no warm shutdown to wait for
        for proc in self._procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
        for proc in self._procs:
            proc.join(5)
        if self._procs and not self.finished:
            self._hand_back()
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None

    def _hand_back(self) -> None:
        """Ranges our processes were running back to queued now (or failed when out of attempts), instead of
        when their leases run out: interrupted (Ctrl-C) or failed, the next command takes them at once."""
        now = datetime.now(UTC)
        try:
            with self.db.write_session() as s:
                s.execute(update(PageRange).where(
                    PageRange.status == RangeStatus.running, PageRange.worker.like(f"{self.plan.worker_id}:%"),
                ).values(lease_expires_at=now - timedelta(seconds=1)))
            sweep_database(self.db, self.settings, self.document_ids, now)
        except Exception as err:
            log.warning("could not hand back the running ranges: %s", type(err).__name__)


def _preload() -> None:
    """Import, before forking, what every process needs: each then starts with it loaded (~0.4 s of imports
    each process would otherwise repeat). Imported for that effect alone, hence the noqa."""
    import billiard.exceptions  # noqa: F401

    import worker.providers.tesseract
    import worker.ranges.run
    import worker.tasks.resources  # noqa: F401


def _serve(plan: _Plan, clock: Any, slot: int, parent: int, wake: int) -> None:
    """A direct process: ranges of the plan's documents, one at a time, until the command kills it."""
    from billiard.exceptions import SoftTimeLimitExceeded

    from worker.ranges.run import run_range
    from worker.tasks.resources import Resources

    _die_with(parent)
    _log_to(plan.log_path)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command, which then stops us

    def soft_limit(_sig: int, _frame: FrameType | None) -> None:
        if clock[slot]:  # a signal meant for a range that has just finished is ignored
            raise SoftTimeLimitExceeded()

    signal.signal(signal.SIGUSR1, soft_limit)
    try:
        res = Resources.build(plan.settings, db_connections=3)
        warm = getattr(res.provider, "warm", None)
        if callable(warm):
            warm()
    except Exception:
        log.exception("the OCR process could not start")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_SETUP_FAILED)
    s = res.settings
    due: dict[int, float] = {}  # range id -> when a retry of it may run (the database was away)
    while True:
        try:
            range_id = _next_range(res.db, plan, slot, due)
        except Exception as exc:
            log.warning("could not look for work: %s", type(exc).__name__)
            time.sleep(1.0)
            continue
        if range_id is None:
            time.sleep(_IDLE_POLL_S)
            continue
        clock[slot] = time.monotonic()
        try:
            outcome = run_range(
                res.db, res.objects, res.provider, range_id, worker_id=plan.worker_id, max_attempts=s.max_attempts,
                lease_s=s.lease_s, retry_base_s=s.retry_base_s, retry_max_s=s.retry_max_s,
                cost_per_page_usd=s.price_per_1000_pages / 1000, leases=res.leases, retry_window_s=s.retry_window_s,
            )
        except SoftTimeLimitExceeded:
            continue  # outside the provider call (claiming, storing): the lease runs out, the range comes back
        finally:
            clock[slot] = 0.0
            _wake(wake)
        due.pop(range_id, None)
        if outcome.status == "retry" and outcome.retry_in_s is not None:
            due[range_id] = time.monotonic() + outcome.retry_in_s


def _next_range(db: Database, plan: _Plan, slot: int, due: dict[int, float]) -> int | None:
    """A range of the plan's documents to try: one whose holder died (or our own, back from a database outage)
    first, as the oldest work, then a queued one that is due. Processes start at different places in the
    list so they rarely try the same range; when two do, the claim lets one of them have it."""
    from worker.ranges.lease import holder_is_dead

    now = datetime.now(UTC)
    with db.read_connection() as conn:
        rows = conn.execute(
            select(_R.c.id, _R.c.status, _R.c.worker, _R.c.not_before)
            .where(_R.c.document_id.in_(plan.document_ids),
                   or_(_R.c.status == RangeStatus.queued, _R.c.status == RangeStatus.running))
            .order_by(_R.c.id)
        ).all()
    mono = time.monotonic()
    for r in rows:
        if r.status == RangeStatus.running and (
            holder_is_dead(r.worker, plan.worker_id) or (r.id in due and due[r.id] <= mono)
        ):
            return int(r.id)
    queued = [r.id for r in rows if r.status == RangeStatus.queued and _due(r.not_before, now)
              and due.get(r.id, 0.0) <= mono]
    return int(queued[slot % len(queued)]) if queued else None


def _wake(fd: int) -> None:
    try:
        os.write(fd, b".")
    except BlockingIOError:  # the pipe is full: the command has plenty of wake-ups waiting already
        pass


def _due(not_before: datetime | None, now: datetime) -> bool:
    if not_before is None:
        return True
    if not_before.tzinfo is None:  # SQLite returns naive UTC
        not_before = not_before.replace(tzinfo=UTC)
    return not_before <= now


def _die_with(parent: int) -> None:
    """Be killed when the command dies, even by kill -9 (Linux's parent-death signal)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the signal was set up
        os._exit(1)


def _log_to(path: Path) -> None:
    """This process's output (logging, tracebacks) into the data folder's worker.log, as Celery workers'."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
