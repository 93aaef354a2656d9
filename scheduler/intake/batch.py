"""Intake of many files at disk speed: hashing and copying overlap the grouped database and broker work.

Files are taken in batches. While one batch is registered (one transaction: a few bulk statements for new
content, scheduler/intake/register.py) and its messages sent (one broker transaction on the embedded broker), threads
already hash and copy the next batch into the object store. Nothing here grows with the number of documents
already in the database: each batch asks only about its own SHA-256s.

A batch is registered whole or not at all, so an interrupted intake (Ctrl-C, kill -9) leaves no document half
registered: objects stored before the kill are found again by their names (content-addressed), documents
committed without their messages have their queued ranges sent again by the next run (and by the sweep).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from models.db import Database
from models.errors import StorageError
from worker.objects.store import ObjectStore
from worker.settings import WorkerSettings

from .fields import save_schemas
from .prepare import PreparedFile, prepare_file
from .register import IntakeResult, register_prepared
from .types import IntakeOptions

__all__ = ["IntakeProgress", "intake_files", "DEFAULT_BATCH_FILES"]

log = logging.getLogger("pagemill.intake")

DEFAULT_BATCH_FILES = 256


@dataclass
class IntakeProgress:
    total: int
    registered: int = 0  # queued for OCR (new documents or pages still missing)
    duplicates: int = 0
    failed: int = 0  # registered as failed documents (bad input) or unreadable files
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.registered + self.duplicates + self.failed

    @property
    def files_per_s(self) -> float:
        return self.done / max(1e-6, time.monotonic() - self.started)


@dataclass
class IntakeOutcome:
    results: list[IntakeResult] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): never registered
    sent: set[int] = field(default_factory=set)  # range ids whose message this intake sent


def _batches(files: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for i in range(0, len(files), size):
        yield files[i : i + size]


def _register(db: Database, prepared: list[PreparedFile], settings: WorkerSettings, opts: IntakeOptions,
              job_id: int | None) -> list[IntakeResult]:
    try:
        with db.write_session() as session:
            return register_prepared(session, prepared, settings, opts, job_id)
    except IntegrityError:
        # another intake (a watched folder, a second submit) registered some of the same content between our
        # look-up and our insert (PostgreSQL): once more, those are known documents now
        with db.write_session() as session:
            return register_prepared(session, prepared, settings, opts, job_id)


def intake_files(
    db: Database,
    objects: ObjectStore,
    files: Sequence[Path],
    settings: WorkerSettings,
    opts: IntakeOptions,
    job_id: int | None,
    send: Callable[[list[int]], None],
    on_progress: Callable[[IntakeProgress], None] | None = None,
    threads: int = 4,
    batch_files: int = DEFAULT_BATCH_FILES,
) -> IntakeOutcome:
    """Store, register and send every file; `send` gets each batch's range ids once its transaction commits."""
    out = IntakeOutcome()
    progress = IntakeProgress(total=len(files))
    if not files:
        return out
    save_schemas(db, settings)  # once per intake, before any document names them
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="pagemill-intake") as pool:
        def start(batch: Sequence[Path]) -> list[tuple[Path, Future[PreparedFile]]]:
            return [(p, pool.submit(prepare_file, objects, p, settings, opts, False)) for p in batch]

        batches = _batches(files, max(1, batch_files))
        ahead = start(next(batches))
        try:
            for batch in batches:
                current, ahead = ahead, start(batch)  # the next batch is hashed while this one is registered
                _finish(db, objects, current, settings, opts, job_id, send, out, progress, on_progress)
            current, ahead = ahead, []
            _finish(db, objects, current, settings, opts, job_id, send, out, progress, on_progress)
        finally:
            for _, fut in ahead:  # interrupted: nothing more is started (running copies finish harmlessly)
                fut.cancel()
    return out


def _finish(
    db: Database, objects: ObjectStore, current: list[tuple[Path, Future[PreparedFile]]], settings: WorkerSettings,
    opts: IntakeOptions,
    job_id: int | None, send: Callable[[list[int]], None], out: IntakeOutcome, progress: IntakeProgress,
    on_progress: Callable[[IntakeProgress], None] | None,
) -> None:
    prepared: list[PreparedFile] = []
    for path, fut in current:
        try:
            prepared.append(fut.result())
        except StorageError as err:
            out.unreadable.append((str(path), err.message))
            progress.failed += 1
    objects.sync()  # the batch's objects are on disk before any row names them
    results = _register(db, prepared, settings, opts, job_id) if prepared else []
    out.results.extend(results)
    # a range this intake sent already (content repeated in the batch or in an earlier one) is not sent again
    ids = [rid for r in results for rid in r.range_ids]
    ids += [rid for r in results for rid in r.resend_ids if rid not in out.sent]
    if ids:
        send(ids)
        out.sent.update(ids)
    for r in results:
        if r.outcome == "failed":
            progress.failed += 1
        elif r.outcome == "duplicate":
            progress.duplicates += 1
        else:
            progress.registered += 1
    if on_progress is not None:
        on_progress(progress)
