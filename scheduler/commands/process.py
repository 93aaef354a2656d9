"""`pagemill run`, `submit` and `worker`: doing the work."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..console import cli_errors, console, err_console, safe
from ._intake_options import IntakeFlags, check_lang_here, intake_options
from ._worker_process import exit_at_once, exit_with_parent

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ..intake.batch import IntakeProgress
    from ..launch.jobs import Job, JobProgress

__all__ = ["register"]

PathsArg = Annotated[list[Path], typer.Argument(help="Files or folders (walked recursively).", show_default=False)]


_NOTES_SHOWN = 20  # a submit of 100,000 known files does not print 100,000 lines


class _ProgressView:
    """Pages done and failed, and the rate, from database snapshots."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("OCR", total=None, failed=0, rate=0.0)
        self.start = time.monotonic()

    def __call__(self, p: JobProgress) -> None:
        elapsed = max(1e-6, time.monotonic() - self.start)
        self.progress.update(
            self.task,
            total=p.pages_total or None,
            completed=p.pages_done + p.pages_failed,
            failed=p.pages_failed,
            rate=p.pages_done / elapsed,
        )


class _IntakeView:
    """Files registered, duplicates, failures and files/s while intake runs; shown once it takes more than a
    moment (a first batch, or half a second), so a small submit prints nothing extra."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def __call__(self, p: IntakeProgress) -> None:
        if self.task is None:
            if p.done >= p.total and time.monotonic() - p.started < 0.5:
                return
            self.task = self.progress.add_task("intake", total=p.total, failed=0, rate=0.0, dups=0, done=0)
        self.progress.update(self.task, completed=p.done, failed=p.failed, dups=p.duplicates, rate=p.files_per_s,
                             done=p.registered)


def _intake_progress() -> Progress:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files"),
        TextColumn("{task.fields[done]} registered"),
        TextColumn("{task.fields[dups]} duplicates"),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]:.0f} files/s"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


def _progress() -> Progress:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed}/{task.total} pages"),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]:.2f} pages/s"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


def print_summary(job: Job) -> None:
    from rich.table import Table

    table = Table(title=f"job {job.id}", title_justify="left")
    for col in ("doc", "document", "pages", "status", "seconds", "note"):
        table.add_column(col, justify="right" if col in ("doc", "pages", "seconds") else "left")
    notes = {e.document_id: e.note for e in job.entries}
    for d in job.summary():
        colour = {"done": "green", "partial": "yellow", "failed": "red"}.get(d.status, "")
        note = d.error if d.status in ("failed", "partial") else notes.get(d.document_id)
        if d.outcome == "duplicate":
            note = f"skipped: {notes.get(d.document_id) or 'duplicate'}"
        pages = f"{d.pages_done}/{d.page_count}" if d.page_count is not None else "-"
        table.add_row(
            str(d.document_id), safe(d.filename, 50), pages,
            f"[{colour}]{d.status}[/{colour}]" if colour else d.status,
            f"{d.seconds:.1f}" if d.seconds is not None else "-", safe(note, 90),
        )
    for path, reason in job.unreadable:
        table.add_row("-", safe(path, 50), "-", "[red]unreadable[/red]", "-", safe(reason, 90))
    console.print(table)


def _report(job: Job) -> None:
    print_summary(job)
    held = job.progress().pages_held
    if held:
        err_console.print(
            f"[magenta]{held} page(s) are held by the budget[/magenta] (not sent, not billed): `pagemill status DOC`"
            " says why; raise the budget (`pagemill budget`), then `pagemill retry` or the scheduler sends them.")
    failed = job.failed
    if failed or job.unreadable:
        err_console.print(f"[red]{len(failed) + len(job.unreadable)} document(s) failed:[/red]")
        for d in failed:
            err_console.print(f"  {d.document_id} {safe(d.filename)}: {safe(d.error_code)}: {safe(d.error, 300)}")
        for path, reason in job.unreadable:
            err_console.print(f"  {safe(path)}: {safe(reason, 300)}")
        err_console.print("`pagemill status DOC` shows the ranges and errors; `pagemill retry` re-runs failed ranges.")
        raise typer.Exit(1)


@intake_options(job=True)
def run(
    paths: PathsArg,
    options: IntakeFlags,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes [default: one per core].")
    ] = None,
) -> None:
    """One-shot: submit PATHs, process them to the end with worker processes of its own, print a summary.

    Runs embedded (no services) by default; with PAGEMILL_BROKER_URL / PAGEMILL_DATABASE_URL set, its workers
    use that broker and database. Exits 1 and lists the failures if any document failed."""
    from ..launch.submit import run as run_job

    with cli_errors():
        settings = options.settings()
        check_lang_here(settings, always=True)
        with _intake_progress() as intake, _progress() as progress:
            job = run_job(
                paths, settings=settings, workers=workers, on_progress=_ProgressView(progress),
                on_intake=_IntakeView(intake), **options.job(),
            )
        _report(job)


@intake_options(job=True)
def submit(
    paths: PathsArg,
    options: IntakeFlags,
    wait: Annotated[bool, typer.Option("--wait", help="Show progress until every document is finished.")] = False,
) -> None:
    """Enqueue PATHs to the configured broker for `pagemill worker` processes.

    Without PAGEMILL_BROKER_URL the embedded broker is used, and --wait starts workers itself (like `run`)."""
    from ..launch.submit import submit as submit_job

    with cli_errors():
        settings = options.settings()
        check_lang_here(settings, always=False)
        if wait:
            if not settings.embedded_broker:
                err_console.print(
                    f"Waiting for `pagemill worker` processes on queue {safe(settings.queue)!r} of the broker "
                    "(PAGEMILL_BROKER_URL); none are started here. `pagemill run` starts its own."
                )
            with _intake_progress() as intake, _progress() as progress:
                job = submit_job(
                    paths, settings=settings, wait=True, on_progress=_ProgressView(progress),
                    on_intake=_IntakeView(intake), **options.job(),
                )
            _report(job)
        else:
            with _intake_progress() as intake:
                job = submit_job(paths, settings=settings, on_intake=_IntakeView(intake), **options.job())
            queued = sum(1 for e in job.entries if e.range_ids)
            console.print(
                f"job {job.id}: {len(job.entries)} file(s), {queued} queued "
                f"({sum(e.pages_planned for e in job.entries)} pages); `pagemill status` follows them"
            )
            noted = [e for e in job.entries if e.outcome != "queued" or e.note]
            for e in noted[:_NOTES_SHOWN]:
                console.print(f"  {safe(e.filename)}: {e.outcome} {safe(e.note, 200)}")
            if len(noted) > _NOTES_SHOWN:
                console.print(f"  ... and {len(noted) - _NOTES_SHOWN} more; `pagemill status job:{job.id}` shows them")
            for path, reason in job.unreadable:
                console.print(f"  {safe(path)}: unreadable {safe(reason, 200)}")


def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Pool size [default: cores for local OCR, 8 for HTTP].")
    ] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", "-P", help="prefork (CPU-bound local engine) or threads (HTTP providers).")
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "warning",
) -> None:
    """Run a Celery worker with the project's settings (PAGEMILL_BROKER_URL, PAGEMILL_DATABASE_URL, ...)."""
    from worker.providers import check_provider
    from worker.settings import WorkerSettings
    from worker.tasks.app import app, configure

    from .maintenance import db_when_reachable

    with cli_errors():
        settings = WorkerSettings()
        check_provider(settings.provider)
        configure(app, settings)
        # under a supervisor a worker may start before its database (a reboot, a PostgreSQL restart): it waits
        # and says so, as the scheduler does, instead of exiting with a traceback (the hour soak restarted
        # workers into a PostgreSQL cut); SIGTERM while waiting ends it cleanly
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        db = db_when_reachable(settings, stop)
        signal.signal(signal.SIGTERM, previous)
        if db is None:
            return
        db.engine.dispose()
        local = settings.provider in ("tesseract", "local")
        pool = pool or ("prefork" if local else "threads")
        n = concurrency or ((os.cpu_count() or 1) if local else 8)
        argv = [
            "worker", "-Q", settings.queue, "-c", str(n), "-P", pool, "--loglevel", loglevel,
            "-n", f"pagemill-{uuid.uuid4().hex[:8]}@%h",
        ]
        if settings.embedded_broker:
            argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        exit_with_parent()
        try:
            app.worker_main(argv)
        except SystemExit as stopped:
            exit_at_once(stopped.code)
        exit_at_once(0)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(submit)
    app.command()(worker)
