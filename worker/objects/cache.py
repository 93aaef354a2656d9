"""A host's bounded cache of the originals it works on, for a remote object store.

PDFium and PIL need a file on disk; a worker claims the ranges of one document one after another, so the
original is downloaded once and kept under its content-addressed name (the name carries its SHA-256, which the
download is checked against). Several worker processes of one host share the folder: files appear by rename
only, so a reader never sees half of one.

The cache is trimmed back to 80% of its bound, least recently used first (use touches a file's mtime), whenever
what this process added since the last trim passes a tenth of the bound. Files used in the last minute are never
removed: another process may have just been handed the path. An open file survives its removal on POSIX.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["ObjectCache"]

_RECENT_S = 60.0


class ObjectCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max(1, max_bytes)
        self._added = 0
        self._lock = threading.Lock()

    def name(self, relpath: str) -> Path:
        return self.root / relpath

    def get(self, relpath: str) -> Path | None:
        path = self.name(relpath)
        try:
            os.utime(path)  # the use that keeps it from being trimmed
        except FileNotFoundError:
            return None
        return path

    def temp(self) -> tuple[int, Path]:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix="dl-")
        return fd, Path(name)

    def add(self, tmp: Path, relpath: str, size: int) -> Path:
        """Move a finished temp file into place (a copy another process put there first wins)."""
        final = self.name(relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        with self._lock:
            self._added += size
            due = self._added > self.max_bytes // 10
            if due:
                self._added = 0
        if due:
            self.trim()
        return final

    def size(self) -> int:
        return sum(size for _, size, _ in self._files())

    def _files(self) -> list[tuple[float, int, Path]]:
        found: list[tuple[float, int, Path]] = []
        for base, _dirs, files in os.walk(self.root):
            if Path(base).name == "tmp":
                continue
            for name in files:
                path = Path(base) / name
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                found.append((st.st_mtime, st.st_size, path))
        return found

    def trim(self) -> int:
        """Remove least recently used files until the cache is under 80% of its bound; returns bytes freed.
        Stray temp files of a killed download older than an hour go too."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        target = self.max_bytes * 8 // 10
        freed = 0
        recent = time.time() - _RECENT_S
        for mtime, size, path in files:
            if total - freed <= target:
                break
            if mtime > recent:
                break  # sorted: everything after this was used even more recently
            path.unlink(missing_ok=True)
            freed += size
        tmp = self.root / "tmp"
        if tmp.is_dir():
            for stray in tmp.iterdir():
                try:
                    if stray.stat().st_mtime < time.time() - 3600:
                        stray.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
        return freed
