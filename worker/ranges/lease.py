"""Range leases: a running range belongs to one worker process for as long as that process shows signs of life.

The lease is short (PAGEMILL_LEASE_S, default 60 s) so that the sweep re-queues the range of a dead worker
quickly; a live worker keeps it by renewing it from a heartbeat thread (one per process) every third of the
lease, however long the provider takes. The hard task time limit (prefork) kills a stuck provider call and its
process, and with it the heartbeat.

A lease holder is named `<celery hostname>:<pid>:<thread>`, so a redelivered message on the same worker instance can
tell that the pool child which held the lease is gone (kill -9 of a pool child) and take the range over at
once instead of waiting for the lease to run out.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, update

from models.db import Database
from models.tables import PageRange, RangeStatus

__all__ = ["LeaseKeeper", "holder_name", "holder_is_dead"]

log = logging.getLogger("pagemill.lease")


def holder_name(worker_id: str) -> str:
    """`<worker>:<pid>:<thread>`: this very thread, so a holder equal to ours is not running elsewhere."""
    return f"{worker_id}:{os.getpid()}:{threading.get_ident()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def holder_is_dead(holder: str | None, worker_id: str) -> bool:
    """True when `holder` was a process of this same worker instance that no longer exists.

    Only a holder of the same worker instance (same Celery hostname, hence same host) can be checked;
    any other holder is trusted until its lease runs out."""
    if not holder or holder.count(":") < 2:
        return False
    name, pid_s, _thread = holder.rsplit(":", 2)
    if name != worker_id or not pid_s.isdigit():
        return False
    pid = int(pid_s)
    return pid != os.getpid() and not _pid_alive(pid)


_RENEW = (
    update(PageRange.__table__)
    .where(
        PageRange.__table__.c.id == bindparam("range_id"),
        PageRange.__table__.c.status == RangeStatus.running,
        PageRange.__table__.c.worker == bindparam("holder"),
        PageRange.__table__.c.attempts == bindparam("attempt"),
    )
    .values(lease_expires_at=bindparam("until"))
)


class LeaseKeeper:
    """Renews, every `lease_s / 3`, the lease of each range this process is working on, from one thread.

    One thread per process rather than one per range: starting and joining a thread for every range cost ~3%
    of a worker's CPU at 1500 pages/s. A renewal only touches a row still `running`, held by the same holder
    with the same attempt, so a range that was cancelled, swept or taken over is never claimed back."""

    def __init__(self, db: Database, lease_s: float) -> None:
        self.db = db
        self.lease_s = lease_s
        self.interval_s = max(0.2, lease_s / 3)
        self._held: dict[int, tuple[str, int]] = {}  # range id -> (holder, attempt)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, range_id: int, holder: str, attempt: int) -> Iterator[None]:
        """Keep the range's lease alive for the `with` block."""
        with self._lock:
            self._held[range_id] = (holder, attempt)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pagemill-leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(range_id, None)

    def renew(self) -> int:
        """Extend every held lease now; returns how many rows were still ours."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return 0
        until = datetime.now(UTC) + timedelta(seconds=self.lease_s)
        # in range order: two renewals (of two worker processes) lock their common rows in the same order
        params = [{"range_id": r, "holder": h, "attempt": a, "until": until} for r, (h, a) in sorted(held)]
        with self.db.write_connection() as conn:
            return int(conn.execute(_RENEW, params).rowcount or 0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.renew()
            except Exception as exc:  # the database may be away for a moment: try again next beat
                log.warning("lease renewal failed: %s", type(exc).__name__)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
