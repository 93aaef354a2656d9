"""Range leases: a running range belongs to one worker process for as long as that process shows signs of life.

The lease is short (PAGEMILL_LEASE_S, default 60 s) so that the sweep re-queues the range of a dead worker
quickly; a live worker keeps it by renewing it from a heartbeat thread every third of the lease, however long
the provider takes. The hard task time limit kills a stuck provider call, and with it the heartbeat.

A lease holder is named `<celery hostname>:<pid>:<thread>`, so a redelivered message on the same worker instance can
tell that the pool child which held the lease is gone (kill -9 of a pool child) and take the range over at
once instead of waiting for the lease to run out.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlalchemy import update

from models.db import Database
from models.tables import PageRange, RangeStatus

__all__ = ["LeaseHeartbeat", "holder_name", "holder_is_dead"]

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


class LeaseHeartbeat:
    """Renews a range's lease every `lease_s / 3` while the `with` block runs.

    The renewal only touches the row while it is still `running` and held by this holder with this attempt,
    so a range that was cancelled, swept or taken over is never claimed back."""

    def __init__(self, db: Database, range_id: int, holder: str, attempt: int, lease_s: float) -> None:
        self.db, self.range_id, self.holder, self.attempt = db, range_id, holder, attempt
        self.lease_s = lease_s
        self.interval_s = max(0.2, lease_s / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{range_id}", daemon=True)
        self.lost = False  # set when the row stopped being ours (cancelled, swept, taken over)

    def renew(self) -> bool:
        now = datetime.now(UTC)
        with self.db.write_session() as s:
            res = s.execute(
                update(PageRange)
                .where(
                    PageRange.id == self.range_id,
                    PageRange.status == RangeStatus.running,
                    PageRange.worker == self.holder,
                    PageRange.attempts == self.attempt,
                )
                .values(lease_expires_at=now + timedelta(seconds=self.lease_s))
            )
            return bool(res.rowcount)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if not self.renew():
                    self.lost = True
                    return
            except Exception as exc:  # the database may be away for a moment: try again next beat
                log.warning("lease renewal of range %s failed: %s", self.range_id, type(exc).__name__)

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
