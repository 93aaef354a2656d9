"""One watched folder: every complete file dropped in becomes a document, exactly once.

A file can reach the folder three ways, and all three lead to the same place, `_consider`: a native event
(or a poll, with `--polling` or on network mounts), the scan of files already there at start, and the
periodic full rescan that catches events the OS never delivered. A considered file waits in the stability
tracker until it held still for the settle time; then it is registered (hashed while copied into the object
folder, deduplicated by content) and its ranges are enqueued. Paths already taken are remembered with their
size and mtime, so a duplicate event or a rescan queues nothing; a touched or re-saved file with the same
bytes is recognised by its hash and queues nothing either.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import watchfiles
from sqlalchemy import select

from models.db import Database
from models.tables import Document
from models.tables import Job as JobRow
from worker.objects.registry import object_store
from worker.settings import WorkerSettings

from ..intake.batch import intake_files
from ..intake.ignore import IgnoreRules
from ..intake.register import IntakeResult
from ..intake.types import IntakeOptions
from ..settings import SchedulerSettings
from .after import FAILED_DIR, PROCESSED_DIR, AfterIntake, Finisher
from .stability import Signature, StabilityTracker, signature

__all__ = ["WatchOptions", "FolderWatcher", "needs_polling"]

log = logging.getLogger("pagemill.watch")

_TICK_MS = 250  # how often the loop wakes without events, to check settling files
_FINISH_POLL_S = 1.0
# file systems whose changes made elsewhere (another host, the VM's host) raise no local inotify events
_REMOTE_FS = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "afs", "davfs", "fuse.sshfs",
    "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "vboxsf", "drvfs", "prl_fs", "vmhgfs", "fuse.vmhgfs-fuse",
}


@dataclass(frozen=True)
class WatchOptions:
    settle_s: float = 5.0
    polling: bool = False
    rescan_interval_s: float = 300.0
    ignore: tuple[str, ...] = ()
    after: AfterIntake = AfterIntake.keep
    poll_delay_ms: int = 500
    pages_per_task: int | None = None  # None: PAGEMILL_PAGES_PER_TASK, else by provider
    intake_threads: int = 4  # threads hashing and copying files that settled together (scheduler/intake/batch.py)


@dataclass
class _Taken:
    sig: Signature
    document_id: int | None


def needs_polling(path: Path, mounts: Path = Path("/proc/mounts")) -> bool:
    """True when `path` lives on a network or host-shared file system, where native events miss changes."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return False
    real, best, fstype = str(path.resolve()), "", ""
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, fstype = point, parts[2]
    return fstype in _REMOTE_FS


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


class FolderWatcher(threading.Thread):
    """Watches `root` recursively until `stop_event` is set. Run it as a thread (`start()`).

    `on_queued(path, result)` is called after each registration (benchmarks time it)."""

    def __init__(
        self,
        root: Path,
        db: Database,
        settings: WorkerSettings,
        options: WatchOptions,
        stop_event: threading.Event,
        enqueue_lock: threading.Lock | None = None,
        on_queued: Callable[[Path, IntakeResult], None] | None = None,
    ) -> None:
        super().__init__(name=f"pagemill-watch:{Path(root).name}", daemon=True)
        self.db, self.settings, self.options, self.stop_event = db, settings, options, stop_event
        self.enqueue_lock = enqueue_lock or threading.Lock()
        self.on_queued = on_queued
        self.root = Path(os.path.abspath(root))
        self.real_root = self.root.resolve()
        self.objects = object_store(self.settings)
        reserved = (PROCESSED_DIR, FAILED_DIR) if self.options.after is not AfterIntake.keep else ()
        self.rules = IgnoreRules(self.options.ignore, reserved_dirs=reserved)
        self.tracker = StabilityTracker(self.options.settle_s)
        self.finisher = Finisher(self.root, self.options.after)
        self.job_id: int | None = None
        self.ready = threading.Event()  # set once the startup scan is done and events are being watched
        self.scans = 0  # full scans done (startup and rescans): lets a caller wait until the folder was re-read
        self._taken: dict[Path, _Taken] = {}

    # -- the loop -------------------------------------------------------------------------------------------

    def run(self) -> None:
        with self.db.write_session() as s:
            row = JobRow(kind="watch", options={"folder": str(self.root), **self.settings.document_options()})
            s.add(row)
            s.flush()
            self.job_id = row.id
        log.info("watching %s (settle %.1fs, after intake: %s)", self.root, self.options.settle_s,
                 self.options.after.value)
        next_rescan = 0.0  # the first tick scans what is already there
        next_finish = 0.0
        for changes in self._changes():
            try:
                for change, raw in changes:
                    if change is not watchfiles.Change.deleted:
                        self._arrived(Path(raw), change)
                now = time.monotonic()
                if now >= next_rescan:
                    self._scan("startup scan" if next_rescan == 0.0 else "rescan")
                    next_rescan = now + self.options.rescan_interval_s
                    self.ready.set()
                self._take_due()
                if len(self.finisher) and now >= next_finish:
                    self.finisher.poll(self.db)
                    next_finish = now + _FINISH_POLL_S
            except Exception:  # one bad file or a database hiccup must not end the watch
                log.exception("watching %s: unexpected error; carrying on", self.root)
        log.info("stopped watching %s", self.root)

    def _changes(self) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        polling = self.options.polling or needs_polling(self.root)
        while not self.stop_event.is_set():
            if polling:
                log.info("polling %s every %d ms", self.root, self.options.poll_delay_ms)
            try:
                yield from watchfiles.watch(
                    self.root, watch_filter=None, debounce=300, step=50, stop_event=self.stop_event,
                    rust_timeout=_TICK_MS, yield_on_timeout=True, force_polling=polling,
                    poll_delay_ms=self.options.poll_delay_ms, raise_interrupt=False,
                    ignore_permission_denied=True,
                )
                return
            except (OSError, RuntimeError) as exc:
                if polling:
                    raise
                log.warning("native file events unavailable for %s (%s); polling instead", self.root, exc)
                polling = True

    # -- arrival -----------------------------------------------------------------------------------

    def _arrived(self, path: Path, change: watchfiles.Change) -> None:
        if path.is_dir() and not path.is_symlink():
            if change is watchfiles.Change.added:
                self._walk(path)  # a folder moved in brings files that raise no events of their own
        else:
            self._consider(path, activity=True)

    def _scan(self, reason: str) -> None:
        for path in [p for p in self._taken if signature(p) is None]:
            del self._taken[path]  # gone: a file later put back under this name is new
        before = len(self.tracker)
        self._walk(self.root)
        if len(self.tracker) > before:
            log.info("%s of %s found %d new file(s)", reason, self.root, len(self.tracker) - before)
        self.scans += 1

    def _walk(self, top: Path) -> None:
        for dirpath, dirs, files in os.walk(top, followlinks=False):
            base = Path(dirpath)
            dirs[:] = sorted(d for d in dirs if not self.rules.ignored((base / d).relative_to(self.root)))
            for name in sorted(files):
                self._consider(base / name)

    def _consider(self, path: Path, activity: bool = False) -> None:
        """`activity`: an event for this very path, which restarts its settle wait; a scan finding a file
        that is already waiting must not (or a busy folder would keep every file waiting)."""
        if path in self.tracker and not activity:
            return
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return
        if self.rules.ignored(rel) or path in self.finisher:
            return
        sig = signature(path)
        if sig is None:
            return
        taken = self._taken.get(path)
        if taken is not None and taken.sig == sig:
            return  # already taken and untouched: a duplicate event or a rescan
        if not path.resolve().is_relative_to(self.real_root):
            if taken is None:
                log.info("%s is a link pointing outside %s; not followed", rel, self.root)
                self._taken[path] = _Taken(sig, None)
            return
        if self.tracker.observe(path):
            log.info("arrived: %s; waiting for it to settle (%.1fs unchanged)", rel, self.options.settle_s)

    # -- intake ------------------------------------------------------------------------------------

    def _take_due(self) -> None:
        due = self.tracker.check()
        for path in due.vanished:
            log.info("%s went away while settling; nothing taken", path.relative_to(self.root))
        # files that settled together (a folder of 100,000 at start-up) are registered in batches, per collection
        groups: dict[str | None, list[tuple[Path, Signature]]] = {}
        for path, sig in due.ready:
            rel = path.relative_to(self.root)
            taken = self._taken.get(path)
            try:
                if self._unchanged_content(path, taken):
                    assert taken is not None
                    log.info("%s was touched but its content is unchanged; nothing queued", rel)
                    self._taken[path] = _Taken(sig, taken.document_id)
                    continue
            except Exception:  # e.g. the database is away: wait and try this file again, never drop it
                log.exception("%s: intake failed; trying again after it settles", rel)
                self.tracker.observe(path)
                continue
            collection = rel.parent.as_posix() if rel.parent != Path(".") else None
            groups.setdefault(collection, []).append((path, sig))
        for collection, ready in groups.items():
            if self.stop_event.is_set():
                return
            try:
                self._take(collection, ready)
            except Exception:  # e.g. the database is away: wait and try these files again, never drop them
                log.exception("%d file(s) in %s: intake failed; trying again after they settle", len(ready),
                              collection or self.root)
                for path, _ in ready:
                    self.tracker.observe(path)

    def _unchanged_content(self, path: Path, taken: _Taken | None) -> bool:
        if taken is None or taken.document_id is None:
            return False
        with self.db.read_session() as s:
            known = s.scalar(select(Document.sha256).where(Document.id == taken.document_id))
        return known is not None and known == _sha256(path)

    def _take(self, collection: str | None, ready: list[tuple[Path, Signature]]) -> None:
        for path, sig in ready:
            log.info("%s is stable (%d bytes); registering", path.relative_to(self.root), sig[0])
        per_task = self.options.pages_per_task or SchedulerSettings().task_pages(self.settings.provider)
        opts = IntakeOptions(collection=collection, pages_per_task=per_task,
                             batch=self.settings.batch)
        sigs = dict(ready)
        outcome = intake_files(
            self.db, self.objects, [path for path, _ in ready], self.settings, opts, self.job_id, self._send,
            threads=self.options.intake_threads,
        )
        for raw, reason in outcome.unreadable:
            path = Path(raw)
            log.warning("%s could not be read: %s", path.relative_to(self.root), reason)
            self._taken[path] = _Taken(sigs[path], None)
            self.finisher.unreadable(path, reason)
        for result in outcome.results:
            assert result.path is not None
            path = result.path
            self._log_result(path.relative_to(self.root), result)
            self._taken[path] = _Taken(sigs[path], result.document_id)
            if result.document_id is not None:
                self.finisher.track(path, result.document_id, sigs[path])
            if self.on_queued is not None:
                self.on_queued(path, result)

    def _send(self, range_ids: list[int]) -> None:
        from worker.tasks.ocr import enqueue_ranges

        if self.settings.batch:
            return  # the sweep forms a batch job when enough ranges wait or the oldest waited PAGEMILL_BATCH_MAX_WAIT_S
        try:
            with self.enqueue_lock:
                enqueue_ranges(range_ids)
        except Exception as exc:  # the ranges are in the database: the sweep sends them once it can
            log.warning("could not reach the broker (%s); the sweep will send %d range(s)", exc, len(range_ids))

    def _log_result(self, rel: Path, result: IntakeResult) -> None:
        if result.range_ids and self.settings.batch:
            log.info("queued %s for a batch job: document %s, %d range(s)", rel, result.document_id,
                     len(result.range_ids))
        elif result.range_ids:
            log.info("queued %s: document %s, %d range(s), %d page(s)", rel, result.document_id,
                     len(result.range_ids), result.pages_planned)
        else:
            log.info("%s: %s, nothing queued (document %s) %s", rel, result.outcome, result.document_id,
                     result.note or "")
        if result.extract_now and result.document_id is not None:
            from worker.extraction.tasks import extract_stored

            try:
                extract_stored(self.db, result.document_id)
            except Exception as exc:
                log.warning("%s: could not queue its fields (%s)", rel, exc)
