"""One SQLite writer at a time across threads and processes, handed over without sleeping.

SQLite lets one connection write at a time. A connection that finds the file locked waits in SQLite's busy
handler, which sleeps in steps of up to 100 ms and never learns that the lock was released: with 4 worker
processes the write lock sat idle most of the time (measured in bench/bench_mistral_overhead.py: 176 ms average
wait per claim for a transaction that holds the lock about 1 ms). Writers that go through `Database` therefore
queue first on a thread lock (threads of one process) and then on an exclusive `flock` of a file beside the
database (processes), where the kernel wakes the next waiter the moment the lock is released. SQLite's own
lock and busy timeout still apply behind it, for writers that do not take this lock (the sqlite3 shell,
Alembic, another program).

Hand-written because the file-lock libraries (filelock, fasteners) wait by polling with sleeps, which is the
very delay this removes; blocking `fcntl.flock` is what is needed and it is a few lines.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["WriterLock"]


class WriterLock:
    """Re-entrant within a thread; the file lock is taken by the outermost holder only.

    `flock` locks open file descriptions, so every thread opens the lock file itself and threads of one process
    queue in the kernel like processes do (a thread lock in front of a shared descriptor made them hand over
    through the GIL: ~5% of a worker's CPU). A descriptor inherited through fork would be shared with the parent
    and exclude nothing, so a forked child opens its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._fds: list[int] = []  # every thread's descriptor, closed by close()
        self._fds_lock = threading.Lock()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def _after_fork(self) -> None:
        # runs in the child before any other thread exists; the parent's descriptors stay open for the parent
        self._local = threading.local()
        self._fds = []
        self._fds_lock = threading.Lock()

    def _fd(self) -> int:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._local.fd, self._local.depth = fd, 0
            with self._fds_lock:
                self._fds.append(fd)
        return fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        fd = self._fd()
        local = self._local
        if local.depth == 0:
            fcntl.flock(fd, fcntl.LOCK_EX)
        local.depth += 1
        try:
            yield
        finally:
            local.depth -= 1
            if local.depth == 0:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._fds_lock:
            fds, self._fds = self._fds, []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._local = threading.local()


def _after_fork(ref: weakref.ref[WriterLock]) -> None:
    lock = ref()
    if lock is not None:
        lock._after_fork()
