"""`pagemill retry`, `pagemill cancel` and `pagemill scheduler`: keeping the work moving."""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from models.errors import ConfigError

from ..console import cli_errors, console, err_console, resolve_document, safe

if TYPE_CHECKING:
    from models.db import Database
    from worker.settings import WorkerSettings

__all__ = ["register", "wait_for_documents", "start_watch_hook"]

log = logging.getLogger("pagemill.scheduler")

def _db(settings: WorkerSettings) -> Database:
    from models.db import Database
    from models.settings import DatabaseSettings

    db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    db.migrate()
    return db


# the scheduler starts under a supervisor, often before its database (a reboot, a compose stack): it waits for
# it instead of exiting with a traceback, and says so; the waits grow to this many seconds
DB_RETRY_MAX_S = 30.0


def db_when_reachable(settings: WorkerSettings, stop: threading.Event) -> Database | None:
    """The database, migrated, once it answers; None if `stop` is set while waiting."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import InterfaceError, OperationalError

    from models.settings import DatabaseSettings

    shown = make_url(DatabaseSettings(data_dir=settings.data_dir).url).render_as_string(hide_password=True)
    delay = 1.0
    while True:
        try:
            return _db(settings)
        except (OperationalError, InterfaceError) as exc:
            lines = str(exc.orig or exc).strip().splitlines()
            reason = lines[0][:200] if lines else type(exc).__name__
            log.warning("database unreachable at %s: retrying in %g s (%s)", shown, delay, reason)
        if stop.wait(delay):
            return None
        delay = min(DB_RETRY_MAX_S, delay * 2)


def wait_for_documents(
    db: Database, ids: list[int], poll_s: float = 0.5, tick: Callable[[], None] | None = None,
    timeout_s: float | None = None,
) -> dict[int, str]:
    """Block until every document in `ids` is done, partial, failed or cancelled; returns id -> status."""
    from sqlalchemy import select

    from models.tables import DocStatus, Document

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        with db.read_session() as s:
            states = dict(s.execute(select(Document.id, Document.status).where(Document.id.in_(ids))).all())
        if all(st in DocStatus.TERMINAL for st in states.values()):
            return states
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"documents not finished after {timeout_s} s")
        if tick:
            tick()
        time.sleep(poll_s)


def _process_here(db: Database, settings: WorkerSettings, ids: list[int]) -> dict[int, str]:
    """Embedded broker: start our own workers and a sweep, wait for the documents, stop them."""
    from ..launch.embedded import EmbeddedProcessing
    from ..settings import SchedulerSettings

    with EmbeddedProcessing(db, settings, SchedulerSettings().embedded_workers or 1) as here:
        states = wait_for_documents(db, ids, tick=here.check)
        here.finished = True
        return states


def retry(
    ref: Annotated[
        str | None,
        typer.Argument(help="A document id or SHA-256 prefix, or job:N for every document of a job; all when omitted."),
    ] = None,
    wait: Annotated[
        bool | None,
        typer.Option("--wait/--no-wait", help="Process and wait [default: wait with the embedded broker].",
                     show_default=False),
    ] = None,
) -> None:
    """Re-run only the failed page ranges. Pages already stored are neither OCR'd nor billed again."""
    from models.tables import DocStatus
    from worker.settings import WorkerSettings

    from ..launch.rerun import documents_of_job, retry_failed

    with cli_errors():
        settings = WorkerSettings()
        db = _db(settings)
        ids: list[int] | None = None
        if ref is not None and ref.lower().startswith("job:"):
            ids = documents_of_job(db, int(ref[4:]) if ref[4:].isdigit() else -1)
        elif ref is not None:
            ids = [resolve_document(db, ref)]
        report = retry_failed(db, settings, ids)
        for doc_id, code in report.intake_failures:
            err_console.print(f"document {doc_id} failed at intake ({code}): fix the file and submit it again")
        if not report.range_ids:
            console.print("nothing to retry: no failed page ranges")
            if report.intake_failures:
                raise typer.Exit(1)
            return
        console.print(
            f"re-queued {len(report.range_ids)} failed range(s), {report.pages} page(s), "
            f"of {len(report.document_ids)} document(s)"
        )
        if wait is None:
            wait = settings.embedded_broker
        if not wait:
            return
        if settings.embedded_broker:
            states = _process_here(db, settings, report.document_ids)
        else:
            states = wait_for_documents(db, report.document_ids)
        bad = {d: st for d, st in states.items() if st != DocStatus.done}
        for doc_id, st in sorted(states.items()):
            console.print(f"  document {doc_id}: {st}")
        if bad:
            raise typer.Exit(1)


def cancel(
    docs: Annotated[list[str], typer.Argument(help="Document ids or SHA-256 prefixes.", show_default=False)],
) -> None:
    """Stop the queued work of documents; they become `cancelled` (`pagemill retry` does not restart them)."""
    from worker.settings import WorkerSettings

    from ..launch.rerun import cancel_documents

    with cli_errors():
        settings = WorkerSettings()
        db = _db(settings)
        report = cancel_documents(db, [resolve_document(db, d) for d in docs])
        for doc_id in report.document_ids:
            console.print(f"document {doc_id}: cancelled")
        for doc_id in report.already_finished:
            console.print(f"document {doc_id}: already finished, nothing to cancel")
        if report.document_ids:
            console.print(f"{report.ranges_cancelled} page range(s) will not run")
            from ..sweep.batch_poller import cancel_orphaned_jobs

            for line in cancel_orphaned_jobs(db, settings):
                console.print(line)


def start_watch_hook(db: Database, settings: WorkerSettings, stop: threading.Event) -> list[Any]:
    """Watched folders from settings, when the `scheduler.watch.start` module offers them.

    Contract: `scheduler.watch.start.start_configured_watchers(db=..., settings=..., stop_event=...)` starts the
    watchers configured in the environment and returns the started objects (each with a `stop()`), or None.
    """
    try:
        watch = importlib.import_module("scheduler.watch.start")
    except ImportError:
        return []
    starter = getattr(watch, "start_configured_watchers", None)
    if starter is None:
        return []
    return list(starter(db=db, settings=settings, stop_event=stop) or [])


def scheduler(
    interval: Annotated[
        float | None, typer.Option("--interval", min=0.1, help="Seconds between sweeps [env PAGEMILL_SWEEP_INTERVAL_S].")
    ] = None,
) -> None:
    """Periodic sweeps until stopped: re-queue ranges of dead workers and lost messages (and watched folders)."""
    from worker.settings import WorkerSettings

    from ..settings import SchedulerSettings
    from ..sweep.periodic import Sweeper

    with cli_errors():
        settings, sched = WorkerSettings(), SchedulerSettings()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        db = db_when_reachable(settings, stop)
        if db is None:  # stopped while the database was away
            return
        sweeper = Sweeper(db, settings, interval or sched.sweep_interval_s, sched.requeue_after_s)
        sweeper.start()
        from worker.webhooks.deliver import Deliverer

        deliverer = Deliverer(db)  # signed webhooks, every PAGEMILL_WEBHOOK_POLL_S (docs/webhooks.md)
        deliverer.start()
        watchers = start_watch_hook(db, settings, stop)
        from ..reports.metrics import serve_scheduler_metrics

        metrics = serve_scheduler_metrics(db, settings)  # None unless PAGEMILL_METRICS_PORT is set
        console.print(
            f"scheduler: sweeping every {sweeper.interval_s:g} s (queue {safe(settings.queue)});"
            f" {len(watchers)} watched folder(s). Ctrl-C stops."
        )
        try:
            while not stop.wait(0.5):
                if not sweeper.is_alive():
                    raise ConfigError("the sweep thread stopped unexpectedly")
        finally:
            sweeper.stop(10)
            deliverer.stop(10)
            if metrics is not None:
                metrics.shutdown()
            stop.set()  # the watchers are threads that end on this event (they have no stop())
            for w in watchers:
                w.join(10)


def register(app: typer.Typer) -> None:
    app.command()(retry)
    app.command()(cancel)
    app.command()(scheduler)
