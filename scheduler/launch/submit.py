"""submit() and run(): the Python API behind `pagemill submit` and `pagemill run`.

    from scheduler import submit
    job = submit(["scans/"], pages="0-3", wait=True)
    for doc in job.summary(): print(doc.filename, doc.status)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path

from models.db import Database
from models.errors import ConfigError, PagemillError
from models.outbox import INTAKE_OPEN, intake_finished
from models.settings import DatabaseSettings
from models.tables import Job as JobRow
from worker.objects.registry import object_store
from worker.providers import check_languages, check_provider
from worker.settings import WorkerSettings

from ..export.archive import archive_pending, check_archive
from ..intake.batch import IntakeProgress, intake_files
from ..intake.ignore import IgnoreRules
from ..intake.types import IntakeOptions
from ..settings import SchedulerSettings
from .direct import DirectProcessing, direct_applies
from .embedded import EmbeddedProcessing
from .jobs import Job, JobProgress
from .webhooks import DeliveryProcess, DeliveryThread, webhooks_wanted

__all__ = ["submit", "run", "expand_paths"]

def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders walked recursively (sorted, symlinks not followed). In a folder, names that are
    never documents are skipped, the same ones a watched folder skips (`scheduler/intake/ignore.py`)."""
    rules = IgnoreRules()
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                here = Path(root).relative_to(p)
                dirs[:] = sorted(d for d in dirs if not rules.ignored(here / d))
                for name in sorted(files):
                    if rules.ignored(here / name):
                        continue
                    fp = Path(root) / name
                    if fp.is_file() and not fp.is_symlink():
                        out.append(fp)
        elif p.exists():
            out.append(p)
        else:
            raise ConfigError(f"no such file or folder: {str(p)!r}")
    return out


def _left_queued(db: Database, document_ids: Sequence[int], planned: set[int]) -> list[int]:
    """Queued ranges of these documents that this job did not plan: left by an earlier command that was
    stopped. Direct processes never sent them to the broker; sending them again is harmless (the claim skips a
    range that is taken), and saves waiting for the sweep's requeue_after_s."""
    from sqlalchemy import select

    from models.tables import PageRange, RangeStatus

    with db.read_session() as s:
        ids = s.scalars(select(PageRange.id).where(
            PageRange.document_id.in_(list(document_ids)), PageRange.status == RangeStatus.queued,
        ).order_by(PageRange.id))
        return [i for i in ids if i not in planned]


def _enqueue(range_ids: Sequence[int], settings: WorkerSettings) -> None:
    from worker.tasks.app import app, configure
    from worker.tasks.ocr import enqueue_ranges

    if app.settings != settings:
        configure(app, settings)
    enqueue_ranges(range_ids)


def _flush_batches(db: Database, settings: WorkerSettings) -> None:
    """Intake is over: nothing more will join this call's ranges, so their jobs are formed and sent now (a
    provider that is away leaves them to the sweep)."""
    from ..sweep.batch_poller import batch_tick

    try:
        batch_tick(db, settings, force=True)
    except PagemillError as err:
        import logging

        logging.getLogger("pagemill.batch").warning("batch jobs not sent yet (%s); the sweep tries again", err.message)


def submit(
    paths: Iterable[str | Path],
    *,
    pages: str | list[int] | None = None,
    pages_per_task: int | None = None,
    force: bool = False,
    password: str | None = None,
    collection: str | None = None,
    wait: bool = False,
    settings: WorkerSettings | None = None,
    kind: str = "submit",
    start_workers: bool | None = None,
    on_progress: Callable[[JobProgress], None] | None = None,
    timeout_s: float | None = None,
    batch: bool | None = None,
    budget_usd: float | None = None,
    on_intake: Callable[[IntakeProgress], None] | None = None,
    workers: int | None = None,
) -> Job:
    """Register, plan and enqueue files; with `wait`, block until every document is finished.

    With the embedded broker (no PAGEMILL_BROKER_URL) and `wait`, worker processes are started and stopped
    here (for a small job, direct processes: scheduler/launch/direct.py); with a real broker, `pagemill worker`
    processes do the work. `batch` (default PAGEMILL_BATCH) sends the ranges as Batch API jobs instead, formed
    and sent here when intake is over and followed by the sweep. `budget_usd` caps what this job may spend
    (worker/budget/limit.py). Workers started here run with `settings` (WorkerSettings.child_env), `workers`
    of them (default PAGEMILL_EMBEDDED_WORKERS, else one per core)."""
    settings = settings or WorkerSettings()
    check_provider(settings.provider)
    batch = settings.batch if batch is None else batch
    if batch and settings.provider != "mistral":
        raise ConfigError(f"--batch does not apply with PAGEMILL_PROVIDER={settings.provider}: the Batch API is "
                          "Mistral's (PAGEMILL_PROVIDER=mistral); run without --batch to send the pages synchronously")
    if start_workers is None:
        start_workers = wait and settings.embedded_broker
    if start_workers or settings.embedded_broker:
        # the engines run on this host: a language it lacks fails now, not on every document (separate
        # `pagemill worker` hosts have their own data and record a missing language on the document)
        check_languages(settings)
    if settings.archive_url:
        check_archive(settings)  # a scheme no store serves stops here, before anything is registered
    sched = SchedulerSettings()
    files = expand_paths(paths)
    db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    db.migrate()
    objects = object_store(settings)
    opts = IntakeOptions(
        pages=pages, pages_per_task=pages_per_task or sched.task_pages(settings.provider), force=force, password=password,
        collection=collection, batch=batch,
    )
    with db.write_session() as s:
        options = {"pages": pages, "force": force, "batch": batch, **settings.document_options()}
        if budget_usd is not None:
            options["budget_usd"] = budget_usd
        # no job.done while its files are still being read (models/outbox.py): cleared by intake_finished
        row = JobRow(kind=kind, options={**options, INTAKE_OPEN: True})
        s.add(row)
        s.flush()
        job = Job(id=row.id, db=db, vision_min_size=settings.vision_min_size)
    # a small job may go to direct processes, forked once intake is done (no broker); until it is more than
    # that, its ranges are held back here rather than sent
    direct = bool(not batch and start_workers and wait and direct_applies(settings, 1))
    held: list[int] = []
    with ExitStack() as stack:
        here: EmbeddedProcessing | DirectProcessing | None = None
        if start_workers and webhooks_wanted(db):
            # events sent while the run goes on (launch/webhooks.py: a process beside forked direct workers, a
            # thread beside Celery workers); stopped last
            stack.enter_context(DeliveryProcess(settings) if direct else DeliveryThread(db))
        if start_workers and not direct:
            # started before intake, so the workers' start-up (about a second) overlaps hashing and planning
            here = stack.enter_context(EmbeddedProcessing(db, settings, workers))

        def send(ids: list[int]) -> None:
            # workers start on the first batch while the rest are read; Batch API ranges wait for
            # _flush_batches, and a direct run's for the processes forked once intake is over
            if batch:
                return
            if direct:
                held.extend(ids)
            else:
                _enqueue(ids, settings)

        intake = intake_files(
            db, objects, files, settings, opts, job.id, send, on_intake,
            threads=sched.intake_threads or (16 if settings.objects_url else 4),
            batch_files=sched.intake_batch_files,
        )
        job.entries.extend(intake.results)
        with db.write_session() as s:
            intake_finished(s, job.id)  # job.done now if nothing is left to do (all duplicates, all refused)
        job.unreadable.extend(intake.unreadable)
        objects.close()
        if direct and not direct_applies(settings, sum(e.pages_planned for e in job.entries)):
            direct = False  # too big after all: Celery workers take the held ranges
            here = stack.enter_context(EmbeddedProcessing(db, settings, workers))
            _enqueue(held, settings)
        extract_now = [e.document_id for e in job.entries if e.extract_now and e.document_id is not None]
        if extract_now:
            from worker.extraction.tasks import extract_stored

            for doc_id in extract_now:
                extract_stored(db, doc_id)  # nothing to OCR: the fields come from the stored pages
        if batch and any(e.range_ids for e in job.entries):
            _flush_batches(db, settings)
        if direct:
            here = stack.enter_context(DirectProcessing(db, settings, job.document_ids, workers))
        elif here is not None and not batch:
            _enqueue(_left_queued(db, job.document_ids, {r for e in job.entries for r in e.range_ids}), settings)
        if wait:
            if here is None:
                job.wait(timeout_s=timeout_s, on_progress=on_progress)
            else:
                job.wait(timeout_s=timeout_s, on_progress=on_progress, tick=here.check, poll_s=here.POLL_S,
                         pause=here.pause)
            if here is not None:
                here.finished = True
    if wait:
        # the job's searchable PDFs, once its workers (and their sweep, which may be writing one) have stopped
        archive_pending(db, settings, job.document_ids)
    return job


def run(paths: Iterable[str | Path], **kwargs: object) -> Job:
    """One-shot: submit, process to the end with our own workers, return the finished job. The workers are
    started whatever the broker: with PAGEMILL_BROKER_URL set, `run` used to wait, silently and for ever, for
    `pagemill worker` processes that nobody had started (that is `submit --wait`)."""
    kwargs.setdefault("wait", True)
    kwargs.setdefault("kind", "run")
    kwargs.setdefault("start_workers", True)
    job = submit(paths, **kwargs)  # type: ignore[arg-type]
    _send_webhooks(job)
    return job


def _send_webhooks(job: Job) -> None:
    """The run's events to their subscriptions before the command ends (a few seconds at most: what a receiver
    does not take by then waits in the outbox for `pagemill scheduler` or the next run)."""
    from worker.webhooks.deliver import drain, has_work

    if has_work(job.db):
        drain(job.db, 10.0)
