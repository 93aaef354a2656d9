"""Watched folders: settings, and starting the watchers for `pagemill watch` and `pagemill scheduler`.

    PAGEMILL_WATCH_DIRS=/srv/inbox,/srv/scans pagemill scheduler     # folders from settings
    pagemill watch inbox/ --settle 5 --after move                    # or named on the command line

On the embedded default (no PAGEMILL_BROKER_URL) `watch_folders` also runs the workers and the sweeps, so
dropping files in is all it takes; with a broker URL it only produces work for `pagemill worker` processes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from models.db import Database
from models.errors import ConfigError
from models.settings import DatabaseSettings
from worker.settings import WorkerSettings

from ..launch.embedded import EmbeddedProcessing
from ..settings import SchedulerSettings
from .after import AfterIntake
from .folder import FolderWatcher, WatchOptions

__all__ = ["WatchSettings", "WatchOptions", "start_watchers", "start_configured_watchers", "watch_folders"]

log = logging.getLogger("pagemill.watch")

_RESTART_AFTER_S = 30.0  # a worker that keeps dying is restarted at most this often


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class WatchSettings(BaseSettings):
    """`PAGEMILL_WATCH_*`. Lists are comma-separated: PAGEMILL_WATCH_IGNORE='*.bak,drafts/*'."""

    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore")

    watch_dirs: str = ""
    watch_settle_s: float = 5.0
    watch_polling: bool = False
    watch_rescan_interval_s: float = 300.0
    watch_poll_delay_ms: int = 500
    watch_ignore: str = ""
    watch_after: AfterIntake = AfterIntake.keep

    @property
    def dirs(self) -> list[Path]:
        return [Path(d) for d in _split(self.watch_dirs)]

    def options(self) -> WatchOptions:
        return WatchOptions(
            settle_s=self.watch_settle_s,
            polling=self.watch_polling,
            rescan_interval_s=self.watch_rescan_interval_s,
            ignore=tuple(_split(self.watch_ignore)),
            after=self.watch_after,
            poll_delay_ms=self.watch_poll_delay_ms,
        )


def _check_dirs(dirs: Sequence[Path]) -> list[Path]:
    out = []
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(f"not a folder: {str(d)!r} (a watched folder must exist)")
        out.append(Path(os.path.abspath(d)))
    real = [p.resolve() for p in out]
    for i, a in enumerate(real):
        for j, b in enumerate(real):
            if i != j and a.is_relative_to(b):
                raise ConfigError(f"{str(out[i])!r} is inside {str(out[j])!r}, which is already watched")
    return out


def start_watchers(
    dirs: Sequence[Path],
    db: Database,
    settings: WorkerSettings,
    options: WatchOptions,
    stop_event: threading.Event,
) -> list[FolderWatcher]:
    """Start one watcher thread per folder; they run until `stop_event` is set."""
    from worker.providers import check_provider
    from worker.tasks.app import app, configure

    check_provider(settings.provider)
    folders = _check_dirs(dirs)
    if app.settings != settings:
        configure(app, settings)
    lock = threading.Lock()  # one producer connection, shared by the watcher threads
    watchers = [FolderWatcher(d, db, settings, options, stop_event, enqueue_lock=lock) for d in folders]
    for w in watchers:
        w.start()
    return watchers


def start_configured_watchers(
    db: Database, settings: WorkerSettings | object | None, stop_event: threading.Event
) -> list[FolderWatcher]:
    """The folders in PAGEMILL_WATCH_DIRS, watched with the PAGEMILL_WATCH_* options (`pagemill scheduler`).

    `settings` should be the WorkerSettings the caller uses; anything else is replaced by WorkerSettings()
    from the environment. Returns the started threads (none when no folder is configured)."""
    ws = WatchSettings()
    if not ws.dirs:
        return []
    worker_settings = settings if isinstance(settings, WorkerSettings) else WorkerSettings()
    return start_watchers(ws.dirs, db, worker_settings, ws.options(), stop_event)


def watch_folders(
    dirs: Sequence[Path],
    options: WatchOptions,
    stop_event: threading.Event,
    settings: WorkerSettings | None = None,
    workers: int | None = None,
) -> None:
    """`pagemill watch`: watch until `stop_event` is set. Embedded, it runs workers and sweeps too."""
    settings = settings or WorkerSettings()
    if settings.embedded_broker:
        from worker.providers import check_languages

        check_languages(settings)  # the workers run here: a language missing here stops the watch at once
    if settings.archive_url:
        from ..export.archive import check_archive

        check_archive(settings)  # --archive naming a store pagemill lacks stops the watch before any file
    sched = SchedulerSettings()
    db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    db.migrate()
    watchers: list[FolderWatcher] = []
    here: EmbeddedProcessing | None = None
    try:
        watchers = start_watchers(dirs, db, settings, options, stop_event)
        if settings.embedded_broker:
            here = EmbeddedProcessing(db, settings, workers, sweep_interval_s=sched.sweep_interval_s)
            log.info("embedded: %d worker process(es) and the sweeps run here", here.workers.concurrency)
        else:
            log.info("producing work for `pagemill worker` processes on queue %r", settings.queue)
        with here if here is not None else nullcontext():
            started = time.monotonic()
            while not stop_event.wait(1.0):
                if here is not None and not here.workers.alive() and time.monotonic() - started > _RESTART_AFTER_S:
                    log.error("the worker process stopped; see %s; starting it again",
                              settings.data_dir / "worker.log")
                    here.workers.start()
                    started = time.monotonic()
                if not any(w.is_alive() for w in watchers):
                    raise ConfigError("every watcher stopped; see the log above")
    finally:
        stop_event.set()
        for w in watchers:
            w.join(10)
        db.dispose()
