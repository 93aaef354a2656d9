"""A claimed batch job on its way to the provider: input file written, uploaded, job created.

Each step is recorded before it is taken, so a process killed at any point resumes without sending a range
twice:
- `pending`: nothing sent. The input lines are built (pages already stored are left out; a range whose pages
  cannot be sent fails as it would synchronously) and packed within the documented limits: ranges that do not
  fit move to a new job of their own. Then `uploading` is recorded.
- `uploading`: the file may have reached the provider. After a crash it is looked up by its name
  (`pagemill-batch-<token>.jsonl`) and uploaded only if it is not there. Then `uploaded` with its id.
- `creating`: the job may exist. After a crash it is looked up by its metadata (`pagemill_token`) and created
  only if it is not there. Then the provider's status and job id.
A 402 (batch billing not enabled) or 401/403 stops every batch range with the message that says what to do;
another refusal gives the job's ranges back for another attempt; 429/5xx leave the step to be taken again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from models.db import Database
from models.errors import BatchNotEnabled, InputError, PagemillError, ProviderAuthError
from models.tables import BatchJob, BatchJobRange, BatchStatus, Document, Page, PageRange

from ..documents.pdf_cache import OpenPdfCache
from ..extraction.annotation import range_annotation
from ..objects.store import ObjectStore
from ..providers.base import SourceDocument
from ..providers.mistral import request_options
from ..ranges.failures import fail_range
from ..ranges.store import store_prepared
from ..settings import WorkerSettings
from .client import BatchClient, remote_state
from .jsonl import InputLine, pack, range_lines
from .ranges import Member, give_back, holder, members, owned, stop_batches

__all__ = ["advance", "abandon", "input_filename", "METADATA_KEY"]

log = logging.getLogger("pagemill.batch")

METADATA_KEY = "pagemill_token"


def input_filename(token: str) -> str:
    return f"pagemill-batch-{token}.jsonl"


def _now() -> datetime:
    return datetime.now(UTC)


def _source(objects: ObjectStore, doc: Document) -> SourceDocument:
    kind = "pdf" if doc.mime_type == "application/pdf" else "image"
    return SourceDocument(objects.local_path(doc.work_path or doc.object_path), doc.mime_type or "", kind,
                          doc.page_count or 0)


def _lines(db: Database, objects: ObjectStore, settings: WorkerSettings, job_id: int,
           from_parts: bool) -> list[list[InputLine]]:
    """Each member range's lines. `from_parts`: the pages recorded when the file was first written (a resumed
    upload sends what was recorded); otherwise the range's pages not stored yet, and ranges with nothing left to
    send or that cannot be sent are settled here."""
    options = request_options(settings)
    out: list[list[InputLine]] = []
    with db.read_session() as s:
        job = s.get_one(BatchJob, job_id)
        mems = members(s, job_id)
        docs = {d.id: d for d in s.scalars(select(Document).where(Document.id.in_({m.document_id for m in mems})))}
        stored = {(p.document_id, p.page_index) for p in s.execute(
            select(Page.document_id, Page.page_index).where(Page.document_id.in_(docs)))}
        token = job.token
        conn = s.connection()
        # a schema given: the lines carry the annotation formats the synchronous request would (worker/extraction/annotation.py)
        asked = {m.range_id: range_annotation(conn, docs[m.document_id].options, m, stored) for m in mems
                 if m.outcome == "pending"}
    done: list[Member] = []  # ranges with every page already stored: nothing to send, the range is done
    pdfs = OpenPdfCache()
    try:
        for m in mems:
            if m.outcome != "pending":
                continue
            pages = [p for part in m.parts for p in part] if from_parts else [
                p for p in m.pages if (m.document_id, p) not in stored]
            if not pages:
                done.append(m)
                continue
            try:
                out.append(range_lines(_source(objects, docs[m.document_id]), m.range_id, m.attempt, pages, options,
                                       settings.max_request_mb * 1_000_000, settings.max_request_pages, pdfs,
                                       asked.get(m.range_id)))
            except InputError as err:
                _fail_member(db, token, m.link_id, err)
    finally:
        pdfs.close()
    if done:
        for d in sorted(done, key=lambda d: d.range_id):
            store_prepared(db, d.range_id, d.document_id, None)
        with db.write_session() as s:
            s.execute(update(BatchJobRange).where(BatchJobRange.id.in_(
                [m.link_id for m in mems if any(d.range_id == m.range_id for d in done)])).values(outcome="stored"))
    return out


def _fail_member(db: Database, token: str, link_id: int, err: InputError) -> None:
    with db.write_session() as s:
        link = s.get_one(BatchJobRange, link_id)
        rng = s.get(PageRange, link.range_id)
        link.outcome, link.error = "failed", err.message
        if owned(rng, token, link.attempt):
            assert rng is not None
            fail_range(s, rng, err.code, err.message)


def _prepare(db: Database, objects: ObjectStore, settings: WorkerSettings, job_id: int) -> bytes | None:
    """`pending` -> `uploading`: the input file's bytes, or None when no range is left to send."""
    ranges = _lines(db, objects, settings, job_id, from_parts=False)
    files = pack(ranges, settings.batch_max_requests, settings.batch_max_file_mb * 1_000_000)
    with db.write_session() as s:
        job = s.get_one(BatchJob, job_id)
        if not files:
            job.status, job.collected_at, job.error = BatchStatus.abandoned, _now(), "no range was left to send"
            return None
        for extra in files[1:]:  # over the limits: these ranges go to a job of their own
            other = BatchJob(token=uuid.uuid4().hex, status=BatchStatus.pending, model=job.model,
                             timeout_hours=job.timeout_hours, requests=0, input_bytes=0, polls=0,
                             completed_requests=0, succeeded_requests=0, failed_requests=0)
            s.add(other)
            s.flush()
            moved = sorted({line.range_id for line in extra})
            s.execute(update(BatchJobRange).where(BatchJobRange.batch_job_id == job_id,
                                                  BatchJobRange.range_id.in_(moved)).values(batch_job_id=other.id))
            s.execute(update(PageRange).where(PageRange.id.in_(moved), PageRange.worker == holder(job.token))
                      .values(worker=holder(other.token)))
        mine = files[0]
        parts: dict[int, list[list[int]]] = {}
        for line in mine:
            parts.setdefault(line.range_id, []).append(line.pages)
        for link in s.scalars(select(BatchJobRange).where(BatchJobRange.batch_job_id == job_id)):
            if link.range_id in parts:
                link.parts = parts[link.range_id]
        content = b"".join(line.data for line in mine)
        job.requests, job.input_bytes, job.status = len(mine), len(content), BatchStatus.uploading
        return content


def _content(db: Database, objects: ObjectStore, settings: WorkerSettings, job_id: int) -> bytes:
    return b"".join(line.data for lines in _lines(db, objects, settings, job_id, from_parts=True) for line in lines)


def _still_wanted(db: Database, token: str) -> bool:
    with db.read_session() as s:
        return s.scalar(select(PageRange.id).where(PageRange.worker == holder(token),
                                                   PageRange.status == "running").limit(1)) is not None


def _record(db: Database, job_id: int, **values: object) -> None:
    with db.write_session() as s:
        s.execute(update(BatchJob).where(BatchJob.id == job_id).values(**values))


def advance(db: Database, objects: ObjectStore, client: BatchClient, settings: WorkerSettings, job_id: int) -> str:
    """Take a job from its local state to a job at the provider; returns its status afterwards. Provider errors
    other than a stop are logged and left for the next call."""
    with db.read_session() as s:
        job = s.get_one(BatchJob, job_id)
        status, token, created = job.status, job.token, job.created_at
        file_id, model, hours = job.input_file_id, job.model, job.timeout_hours
    content: bytes | None = None
    fresh = False  # this call recorded the step: nothing can be at the provider from an earlier run
    try:
        if status == BatchStatus.pending:
            content = _prepare(db, objects, settings, job_id)
            if content is None:
                return BatchStatus.abandoned
            status, fresh = BatchStatus.uploading, True
        if status == BatchStatus.uploading:
            name = input_filename(token)
            found = None if fresh else client.find_file(name)
            if found is None:
                found = client.upload(name, content if content is not None else _content(db, objects, settings, job_id))
            else:
                log.info("batch job %d: its input file was uploaded before a restart; not sent again", job_id)
            file_id = found
            _record(db, job_id, input_file_id=file_id, status=BatchStatus.uploaded)
            status = BatchStatus.uploaded
        if status == BatchStatus.uploaded:
            if not _still_wanted(db, token):  # every range was cancelled meanwhile: create nothing
                _record(db, job_id, status=BatchStatus.abandoned, collected_at=_now(), error="its ranges were cancelled")
                return BatchStatus.abandoned
            _record(db, job_id, status=BatchStatus.creating)
            status, fresh = BatchStatus.creating, True
        if status == BatchStatus.creating:
            assert file_id is not None
            aware = created if created.tzinfo else created.replace(tzinfo=UTC)
            remote = None if fresh else client.find_job(METADATA_KEY, token, aware - timedelta(hours=1))
            if remote is None:
                remote = client.create_job(file_id, model, hours, {METADATA_KEY: token})
            else:
                log.info("batch job %d: the provider's job %s was created before a restart", job_id, remote.id)
            # a job found again may have ended meanwhile: record all of it, output files included
            _record(db, job_id, provider_job_id=remote.id, submitted_at=_now(), error=None, error_code=None,
                    next_poll_at=_now() + timedelta(seconds=settings.batch_poll_min_s), **remote_state(remote))
            return remote.status
    except (BatchNotEnabled, ProviderAuthError) as err:
        log.error("batch job %d stopped: %s", job_id, err.message)
        stop_batches(db, job_id, err)
        return BatchStatus.abandoned
    except PagemillError as err:
        if err.retryable:
            log.warning("batch job %d: %s; trying again later", job_id, err.message)
            wait = max(getattr(err, "retry_after_s", None) or 0.0, settings.batch_poll_min_s)
            _record(db, job_id, error=err.message, error_code=err.code,
                    next_poll_at=_now() + timedelta(seconds=wait))
            return status
        log.warning("batch job %d refused: %s; its ranges go back to the queue", job_id, err.message)
        abandon(db, settings, job_id, err)
        return BatchStatus.abandoned
    return status


def abandon(db: Database, settings: WorkerSettings, job_id: int, err: PagemillError) -> None:
    """The job will never run: give its ranges back (an attempt each) and close it."""
    with db.write_session() as s:
        job = s.get_one(BatchJob, job_id)
        for link in s.scalars(select(BatchJobRange).where(BatchJobRange.batch_job_id == job_id,
                                                          BatchJobRange.outcome == "pending")):
            give_back(s, settings, job.token, link, err.code, err.message)
        job.status, job.error, job.error_code, job.collected_at = BatchStatus.abandoned, err.message, err.code, _now()
