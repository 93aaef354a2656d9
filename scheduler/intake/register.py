"""Intake: store a file (hashing while copying), inspect it, dedup it, and plan its page ranges.

Two steps, so that many files share one transaction (scheduler/intake/batch.py): `prepare_file` stores and
inspects a file without the database; `register_prepared` registers a batch of prepared files in the caller's
transaction, new content by a few bulk statements, content already known one document at a time.

Identical content with identical options is never OCR'd twice: pages already stored, or queued in a live
range, are left out of the plan, and the result says why a file was skipped. `force` starts the document over.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from models.archive import want_archive
from models.db import Database
from models.outbox import document_finished
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
from worker.documents.inspect import DocumentInfo
from worker.extraction import ANNOTATE_KEY
from worker.objects.store import ObjectStore
from worker.ranges.persist import insert_ignore
from worker.ranges.store import finish_document
from worker.settings import WorkerSettings

from .fields import annotate_in_request, save_schemas, want_fields
from .plan import parse_pages, split_ranges
from .prepare import PreparedFile, prepare_file
from .types import IntakeOptions

__all__ = ["IntakeResult", "register_file", "register_prepared", "options_key"]

log = logging.getLogger("pagemill.intake")


@dataclass
class IntakeResult:
    filename: str
    outcome: str  # queued | duplicate | failed
    document_id: int | None = None
    note: str | None = None
    range_ids: list[int] = field(default_factory=list)
    pages_planned: int = 0
    # queued ranges of a known document, sent again: a run interrupted between its commit and its messages
    # left them without one, and a second run completes it (a duplicate message is skipped by the worker)
    resend_ids: list[int] = field(default_factory=list)
    path: Path | None = None  # the file as given
    # nothing to OCR, but fields to extract from the stored pages now (a known document, a new schema)
    extract_now: bool = False


# what decides a document's fields, not its OCR: a new schema is extracted from the stored pages (fields are
# deduplicated per document and schema hash), so nobody pays for OCR twice to change a schema
_NOT_OCR_OPTIONS = ("schema", "extract_prompt")


def options_key(options: dict[str, object]) -> str:
    ocr = {k: v for k, v in options.items() if k not in _NOT_OCR_OPTIONS}
    return hashlib.sha256(json.dumps(ocr, sort_keys=True, default=str).encode()).hexdigest()


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
    prepared = prepare_file(objects, path, settings, opts)
    save_schemas(db, settings)
    with db.write_session() as session:
        return register_prepared(session, [prepared], settings, opts, job_id)[0]


def register_prepared(
    session: Session, files: list[PreparedFile], settings: WorkerSettings, opts: IntakeOptions,
    job_id: int | None = None,
) -> list[IntakeResult]:
    """Register prepared files in the caller's transaction, one result per file in order. Content new to the
    database takes a few bulk statements for the whole batch (no query per file, none that grows with the
    number of documents); content already known, or repeated within the batch, the per-document path."""
    doc_options = settings.document_options()
    key = options_key(doc_options)
    shas = sorted({f.stored.sha256 for f in files})
    known = set(session.scalars(select(Document.sha256).where(Document.sha256.in_(shas))))
    fresh: dict[str, int] = {}  # sha -> index in files of its first occurrence, for content new to the database
    for i, f in enumerate(files):
        if f.stored.sha256 not in known and f.stored.sha256 not in fresh:
            fresh[f.stored.sha256] = i
    results: dict[int, IntakeResult] = {}
    if fresh:
        new = [files[i] for i in fresh.values()]
        for i, result in zip(fresh.values(), _register_new(session, new, doc_options, key, settings, opts, job_id)):
            results[i] = result
    # a schema is outside the dedup key (_NOT_OCR_OPTIONS): known content may still want its fields, which the
    # per-document path decides
    if known and not opts.force and "schema" not in doc_options:
        results.update(_register_duplicates(session, files, known, key, opts, job_id))
    for i, f in enumerate(files):
        if i not in results:
            results[i] = _register_known(session, f, doc_options, key, settings, opts, job_id)
    out = [results[i] for i in range(len(files))]
    if settings.archive_url:  # where their searchable PDFs go once finished (scheduler/export/archive.py)
        want_archive(session, [r.document_id for r in out if r.document_id is not None and r.outcome != "failed"],
                     settings.archive_url)
    for f, r in zip(files, out):
        r.path = f.path
        log.info("intake %s: %s %s", r.filename, r.outcome, r.note or "")
    return out


def _register_new(
    session: Session, files: list[PreparedFile], doc_options: dict[str, object], key: str,
    settings: WorkerSettings, opts: IntakeOptions, job_id: int | None,
) -> list[IntakeResult]:
    """Documents whose content the database has never seen: inserted in bulk, with their ranges."""
    rows = []
    for f in files:
        row: dict[str, object] = {
            "sha256": f.stored.sha256, "filename": f.path.name, "size_bytes": f.stored.size,
            "object_path": f.stored.relpath, "work_path": f.work_path, "collection": opts.collection,
            "options": doc_options, "options_key": key, "status": DocStatus.queued,
            "mime_type": None, "page_count": None, "error": None, "error_code": None,
        }
        if f.problem is not None:
            row.update(status=DocStatus.failed, error=f.problem.message, error_code=f.problem.code)
        elif f.info is not None:
            row.update(mime_type=f.info.mime_type, page_count=f.info.page_count)
            if annotate_in_request(doc_options, settings, opts, f.info.page_count):
                # one document, one annotation: its pages go as one request (docs/extraction.md)
                row["options"] = {**doc_options, ANNOTATE_KEY: True}
        rows.append(row)
    # Core inserts (the ORM's bulk path costs more per row); defaults such as created_at apply all the same
    table = Document.__table__
    ids = dict(session.execute(insert(table).returning(table.c.sha256, table.c.id), rows).all())
    now = datetime.now(UTC)
    results: list[IntakeResult] = []
    range_rows: list[dict[str, object]] = []
    owners: list[int] = []  # index in results of each range row
    for f in files:
        doc_id = ids[f.stored.sha256]
        result = IntakeResult(filename=f.path.name, outcome="queued", document_id=doc_id)
        if f.problem is not None:
            result.outcome, result.note = "failed", f"{f.problem.code}: {f.problem.message}"
        elif f.info is not None:
            requested = parse_pages(opts.pages, f.info.page_count)
            per_task = opts.pages_per_task
            if annotate_in_request(doc_options, settings, opts, f.info.page_count):
                per_task = settings.max_request_pages
            for seq, chunk in enumerate(split_ranges(requested, per_task, settings.max_request_pages), 1):
                range_rows.append({
                    "document_id": doc_id, "seq": seq, "pages": chunk, "first_page": chunk[0],
                    "last_page": chunk[-1], "status": RangeStatus.queued, "enqueued_at": now,
                    "batch": opts.batch,
                })
                owners.append(len(results))
                result.pages_planned += len(chunk)
        results.append(result)
    if range_rows:
        # RETURNING in any order, matched by (document, seq): SQLAlchemy keeps RETURNING rows in parameter order
        # on SQLite only by one INSERT per row, and without RETURNING psycopg sends one INSERT per row
        ranges = PageRange.__table__
        by_key = {(d, q): i for i, d, q in session.execute(
            insert(ranges).returning(ranges.c.id, ranges.c.document_id, ranges.c.seq), range_rows)}
        for owner, row in zip(owners, range_rows):
            results[owner].range_ids.append(by_key[(row["document_id"], row["seq"])])
    for f, result in zip(files, results):
        if f.problem is None and not result.range_ids:
            assert result.document_id is not None
            finish_document(session, result.document_id)
            result.note = "no pages selected"
        if f.problem is None and "schema" in doc_options:
            assert result.document_id is not None
            want_fields(session, result.document_id, doc_options)  # its pending fields row
    _record_names(session, files, results, job_id, opts)
    for f, result in zip(files, results):
        if f.problem is not None and result.document_id is not None:  # refused at intake: its webhook event
            document_finished(session, result.document_id, DocStatus.failed, jobs=False)
    return results


def _record_names(
    session: Session, files: list[PreparedFile], results: list[IntakeResult], job_id: int | None,
    opts: IntakeOptions,
) -> None:
    insert_ignore(
        session, DocumentName,
        [{"document_id": r.document_id, "filename": f.path.name, "source_path": str(f.path.absolute()),
          "collection": opts.collection} for f, r in zip(files, results)],
        ["document_id", "source_path"],
    )
    if job_id is not None:
        insert_ignore(
            session, JobDocument,
            [{"job_id": job_id, "document_id": r.document_id, "filename": r.filename, "outcome": r.outcome,
              "note": r.note} for r in results],
            ["job_id", "document_id"],
        )


def _register_duplicates(
    session: Session, files: list[PreparedFile], known: set[str], key: str, opts: IntakeOptions,
    job_id: int | None,
) -> dict[int, IntakeResult]:
    """Known content, same options, every requested page stored or planned: nothing to do, decided for the
    whole batch by three queries (a second run over the same folder). Anything else takes _register_known."""
    docs = {sha: (doc_id, status, options_key) for sha, doc_id, status, options_key in session.execute(
        select(Document.sha256, Document.id, Document.status, Document.options_key)
        .where(Document.sha256.in_(sorted(known))))}
    ids = sorted({doc_id for doc_id, _, _ in docs.values()})
    covered: dict[int, set[int]] = {doc_id: set() for doc_id in ids}
    queued: dict[int, list[int]] = {doc_id: [] for doc_id in ids}
    replan: set[int] = set()
    for doc_id, page_index in session.execute(select(Page.document_id, Page.page_index)
                                              .where(Page.document_id.in_(ids))):
        covered[doc_id].add(page_index)
    for range_id, doc_id, status, pages in session.execute(
            select(PageRange.id, PageRange.document_id, PageRange.status, PageRange.pages)
            .where(PageRange.document_id.in_(ids))):
        if status in (RangeStatus.queued, RangeStatus.running):
            covered[doc_id].update(pages)
            if status == RangeStatus.queued:
                queued[doc_id].append(range_id)
        elif status in (RangeStatus.failed, RangeStatus.cancelled):
            replan.add(doc_id)  # failed ranges are superseded by a new plan: the per-document path
    chosen: dict[int, IntakeResult] = {}
    for i, f in enumerate(files):
        entry = docs.get(f.stored.sha256)
        if entry is None or f.problem is not None or f.info is None:
            continue
        doc_id, status, options_key = entry
        if options_key != key or doc_id in replan or status in (DocStatus.failed, DocStatus.cancelled):
            continue
        if not set(parse_pages(opts.pages, f.info.page_count)) <= covered[doc_id]:
            continue
        chosen[i] = IntakeResult(
            filename=f.path.name, outcome="duplicate", document_id=doc_id,
            note=f"identical content with the same options is already document {doc_id} ({status});"
                 " nothing to OCR (use --force to redo it)",
            resend_ids=sorted(queued[doc_id]),
        )
    _record_names(session, [files[i] for i in chosen], list(chosen.values()), job_id, opts)
    return chosen


def _register_known(
    session: Session, f: PreparedFile, doc_options: dict[str, object], key: str, settings: WorkerSettings,
    opts: IntakeOptions, job_id: int | None,
) -> IntakeResult:
    """A file whose content is already a document: dedup, new options, forced redo, or pages still missing."""
    filename, stored, info, problem = f.path.name, f.stored, f.info, f.problem
    doc = session.scalar(select(Document).where(Document.sha256 == stored.sha256))
    assert doc is not None  # known: registered before or earlier in this batch
    result = IntakeResult(filename=filename, outcome="queued", document_id=doc.id)
    if problem is not None:
        if doc.status == DocStatus.failed:
            doc.error = problem.message
            doc.error_code = problem.code
            result.outcome, result.note = "failed", f"{problem.code}: {problem.message}"
        else:
            result.outcome = "duplicate"
            result.note = f"identical content is already document {doc.id} ({doc.status})"
    else:
        assert info is not None
        if opts.force or doc.options_key != key:
            _wipe(session, doc.id)
            result.note = "forced: processing again" if opts.force else "new options: processing again"
        doc.mime_type, doc.page_count = info.mime_type, info.page_count
        doc.options, doc.options_key = doc_options, key
        if f.work_path:
            doc.work_path = f.work_path
        if doc.error_code and doc.status == DocStatus.failed and not session.scalar(
            select(func.count()).select_from(PageRange).where(PageRange.document_id == doc.id)
        ):
            doc.error = doc.error_code = None  # an intake failure that no longer applies
        plan_opts = opts
        stored_pages = session.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc.id))
        if not stored_pages and annotate_in_request(doc_options, settings, opts, info.page_count):
            # one document, one annotation: its pages go as one request (docs/extraction.md)
            doc.options = {**doc_options, ANNOTATE_KEY: True}
            plan_opts = replace(opts, pages_per_task=settings.max_request_pages)
        result.range_ids = _plan(session, doc, info, plan_opts, settings.max_request_pages)
        result.pages_planned = sum(
            len(p) for p in session.scalars(select(PageRange.pages).where(PageRange.id.in_(result.range_ids)))
        )
        if not result.range_ids:
            result.outcome = "duplicate"
            result.note = (
                f"identical content with the same options is already document {doc.id} ({doc.status});"
                " nothing to OCR (use --force to redo it)"
            )
            result.resend_ids = list(session.scalars(select(PageRange.id).where(
                PageRange.document_id == doc.id, PageRange.status == RangeStatus.queued)))
        elif result.note is None:
            n = result.pages_planned
            result.note = f"known document {doc.id}: OCR of the {n} page{'s' if n != 1 else ''} not stored yet"
        if want_fields(session, doc.id, doc_options) and not result.range_ids and stored_pages:
            result.extract_now = True
            result.note = f"{result.note or ''}; fields to extract from the stored pages".lstrip("; ")
    _record_names(session, [f], [result], job_id, opts)
    return result
