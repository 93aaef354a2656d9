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

    Open file descriptions are what `flock` locks, so each process opens the lock file itself (a descriptor
    inherited through fork would be shared with the parent and exclude nothing), and so do two `WriterLock`s of
    one process, which then exclude each other like two processes would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pid = os.getpid()
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def _after_fork(self) -> None:
        # runs in the child before any other thread exists; the parent's descriptor stays open for the parent
        self._thread_lock = threading.RLock()  # a copied lock may be held by a thread that did not survive fork
        self._fd = None
        self._depth = 0
        self._pid = os.getpid()

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def _after_fork(ref: weakref.ref[WriterLock]) -> None:
    lock = ref()
    if lock is not None:
        lock._after_fork()
