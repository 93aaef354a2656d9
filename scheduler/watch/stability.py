"""When is a file complete? When nothing has touched it for `settle_s` and it can be opened.

Events say *that* something happened, never that a writer is done: a scanner or a network copy writes in
bursts with pauses between them. So each arriving path waits here; every check compares its size and
mtime with the last ones seen, and any change (or a new event for it) starts its wait again. Only a file
whose signature held still for the whole settle time, and that can be opened for reading, is handed out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Signature", "signature", "Due", "StabilityTracker"]

Signature = tuple[int, int]  # (size in bytes, mtime in ns)


def signature(path: Path) -> Signature | None:
    """Size and mtime of a regular file, or None when it is gone or not a regular file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return (st.st_size, st.st_mtime_ns)


def _openable(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError:
        return False
    return True


@dataclass
class _Waiting:
    sig: Signature | None
    since: float


@dataclass
class Due:
    ready: list[tuple[Path, Signature]] = field(default_factory=list)
    vanished: list[Path] = field(default_factory=list)


class StabilityTracker:
    """Paths waiting to become stable. Not thread-safe: one watcher loop owns it."""

    def __init__(self, settle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_s = max(0.0, settle_s)
        self._clock = clock
        self._waiting: dict[Path, _Waiting] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, path: object) -> bool:
        return path in self._waiting

    def observe(self, path: Path) -> bool:
        """Note activity on `path` (its wait starts again). True when the path was not waiting before."""
        now = self._clock()
        known = self._waiting.get(path)
        self._waiting[path] = _Waiting(signature(path), now)
        return known is None

    def forget(self, path: Path) -> None:
        self._waiting.pop(path, None)

    def check(self) -> Due:
        """Hand out the files that held still long enough; drop the ones that disappeared."""
        now = self._clock()
        due = Due()
        for path, w in list(self._waiting.items()):
            sig = signature(path)
            if sig is None:
                del self._waiting[path]
                due.vanished.append(path)
            elif sig != w.sig:
                w.sig, w.since = sig, now
            elif now - w.since >= self.settle_s and _openable(path):
                del self._waiting[path]
                due.ready.append((path, sig))
        return due
