"""Intake: store a file (hashing while copying), inspect it, dedup it, and plan its page ranges.

Identical content with identical options is never OCR'd twice: pages already stored, or queued in a live
range, are left out of the plan, and the result says why a file was skipped. `force` starts the document over.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import UTC, datetime
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2.raw as pdfium_c
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models.db import Database
from models.errors import InputError
from models.tables import (
    DocStatus,
    Document,
    DocumentName,
    Image,
    JobDocument,
    Page,
    PageBlock,
    PageRange,
    PageTable,
    RangeStatus,
)
from worker.documents import DocumentInfo, inspect_document, open_pdf
from worker.objects import ObjectStore
from worker.persist import insert_ignore
from worker.store import finish_document
from worker.resources import limits_from
from worker.settings import WorkerSettings

from .planning import parse_pages, split_ranges

__all__ = ["IntakeOptions", "IntakeResult", "register_file", "options_key"]

log = logging.getLogger("pagemill.intake")


@dataclass(frozen=True)
class IntakeOptions:
    pages: str | list[int] | None = None
    pages_per_task: int = 8
    force: bool = False
    password: str | None = None
    collection: str | None = None
    batch: bool = False  # the ranges go out as Batch API jobs (scheduler/batch_poller.py), not to the workers


@dataclass
class IntakeResult:
    filename: str
    outcome: str  # queued | duplicate | failed
    document_id: int | None = None
    note: str | None = None
    range_ids: list[int] = field(default_factory=list)
    pages_planned: int = 0


def options_key(options: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()


def _decrypted_copy(objects: ObjectStore, relpath: str, password: str) -> str:
    """Keep a password-free working copy so workers never need the password (it is stored nowhere)."""
    with open_pdf(objects.path(relpath), password) as pdf:
        buf = io.BytesIO()
        pdf.save(buf, flags=pdfium_c.FPDF_REMOVE_SECURITY)
    return objects.put_bytes(buf.getvalue(), "work", "pdf").relpath


def _wipe(session: Session, doc_id: int) -> None:
    for table in (Page, Image, PageTable, PageBlock, PageRange):
        session.execute(delete(table).where(table.document_id == doc_id))  # type: ignore[attr-defined]


def _plan(session: Session, doc: Document, info: DocumentInfo, opts: IntakeOptions, max_request_pages: int) -> list[int]:
    requested = parse_pages(opts.pages, info.page_count)
    # failed/cancelled ranges are superseded by a new plan for their pages
    session.execute(
        delete(PageRange).where(
            PageRange.document_id == doc.id,
            PageRange.status.in_([RangeStatus.failed, RangeStatus.cancelled]),
        )
    )
    have = set(session.scalars(select(Page.page_index).where(Page.document_id == doc.id)))
    for pages in session.scalars(
        select(PageRange.pages).where(
            PageRange.document_id == doc.id,
            PageRange.status.in_([RangeStatus.queued, RangeStatus.running, RangeStatus.held]),
        )
    ):
        have.update(pages)
    todo = [p for p in requested if p not in have]
    seq = session.scalar(select(func.max(PageRange.seq)).where(PageRange.document_id == doc.id)) or 0
    ranges: list[PageRange] = []
    for chunk in split_ranges(todo, opts.pages_per_task, max_request_pages):
        seq += 1
        ranges.append(
            PageRange(
                document_id=doc.id, seq=seq, pages=chunk, first_page=chunk[0], last_page=chunk[-1],
                status=RangeStatus.queued, enqueued_at=datetime.now(UTC), batch=opts.batch,
            )
        )
    session.add_all(ranges)
    session.flush()
    if ranges:
        doc.status = DocStatus.queued
        doc.finished_at = None
    return [r.id for r in ranges]


def register_file(
    db: Database,
    objects: ObjectStore,
    path: Path,
    settings: WorkerSettings,
    opts: IntakeOptions,
    job_id: int | None = None,
) -> IntakeResult:
    """Register one file. Raises only StorageError (the file could not be read at all)."""
    filename = path.name
    stored = objects.put_file(path)
    doc_options = settings.document_options()
    key = options_key(doc_options)
    info: DocumentInfo | None = None
    problem: InputError | None = None
    work_path: str | None = None
    try:
        info = inspect_document(objects.path(stored.relpath), opts.password, limits_from(settings))
        if opts.password and info.kind == "pdf":
            work_path = _decrypted_copy(objects, stored.relpath, opts.password)
    except InputError as err:
        problem = err

    with db.write_session() as session:
        doc = session.scalar(select(Document).where(Document.sha256 == stored.sha256))
        is_new = doc is None
        if doc is None:
            doc = Document(
                sha256=stored.sha256, filename=filename, size_bytes=stored.size, object_path=stored.relpath,
                collection=opts.collection, options=doc_options, options_key=key, status=DocStatus.queued,
            )
            session.add(doc)
            session.flush()
        insert_ignore(
            session, DocumentName,
            [{"document_id": doc.id, "filename": filename, "source_path": str(path.absolute()),
              "collection": opts.collection}],
            ["document_id", "source_path"],
        )
        result = IntakeResult(filename=filename, outcome="queued", document_id=doc.id)
        if problem is not None:
            if is_new or doc.status == DocStatus.failed:
                doc.status = DocStatus.failed
                doc.error = problem.message
                doc.error_code = problem.code
                doc.mime_type = doc.mime_type or None
                result.outcome, result.note = "failed", f"{problem.code}: {problem.message}"
            else:
                result.outcome = "duplicate"
                result.note = f"identical content is already document {doc.id} ({doc.status})"
        else:
            assert info is not None
            if not is_new and (opts.force or doc.options_key != key):
                _wipe(session, doc.id)
                result.note = "forced: processing again" if opts.force else "new options: processing again"
            doc.mime_type, doc.page_count = info.mime_type, info.page_count
            doc.options, doc.options_key = doc_options, key
            if work_path:
                doc.work_path = work_path
            if doc.error_code and doc.status == DocStatus.failed and not session.scalar(
                select(func.count()).select_from(PageRange).where(PageRange.document_id == doc.id)
            ):
                doc.error = doc.error_code = None  # an intake failure that no longer applies
            result.range_ids = _plan(session, doc, info, opts, settings.max_request_pages)
            result.pages_planned = sum(
                len(p) for p in session.scalars(select(PageRange.pages).where(PageRange.id.in_(result.range_ids)))
            )
            if not result.range_ids:
                if is_new:
                    finish_document(session, doc.id)
                    result.note = "no pages selected"
                else:
                    result.outcome = "duplicate"
                    result.note = (
                        f"identical content with the same options is already document {doc.id} ({doc.status});"
                        " nothing to OCR (use --force to redo it)"
                    )
            elif not is_new and result.note is None:
                n = result.pages_planned
                result.note = f"known document {doc.id}: OCR of the {n} page{'s' if n != 1 else ''} not stored yet"
        if job_id is not None:
            insert_ignore(
                session, JobDocument,
                [{"job_id": job_id, "document_id": doc.id, "filename": filename, "outcome": result.outcome,
                  "note": result.note}],
                ["job_id", "document_id"],
            )
    log.info("intake %s: %s %s", filename, result.outcome, result.note or "")
    return result
