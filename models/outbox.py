"""The webhook outbox: event rows written in the transaction of the change they report (docs/webhooks.md).

Every function here takes the session or connection that makes the change and only inserts into
`webhook_events`; nothing is sent here. Delivery reads the rows after their commit (worker/webhooks/deliver.py), so
a rolled-back change leaves no event and a committed one cannot lose its event. Bodies carry ids and summaries,
never page text or secrets: the receiver fetches what it needs.

Events are written only while a subscription is enabled (`subscribed`, one EXISTS in the change's own
transaction, read after any subscription committed before it): an installation without webhooks writes no rows
and runs one query per change instead of five or more. A subscription receives only events written after it was
added (`after_event_id`), so nothing it could receive is skipped. The deployment's subscription
(PAGEMILL_WEBHOOK_URL) is a row too, written when `pagemill scheduler`, a `run` or `pagemill webhooks deliver`
starts with the setting.

The bodies are a contract (docs/webhooks.md has one example of each; tests/worker/webhooks/test_events_doc.py
compares their keys). The envelope is the one Standard Webhooks recommends: `{"type", "timestamp", "data"}`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, exists, func, insert, select
from sqlalchemy.orm import Session

from .tables import (
    BatchJob,
    DocStatus,
    Document,
    FieldsRow,
    Job,
    JobDocument,
    Page,
    PageRange,
    Usage,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "EVENT_TYPES",
    "HINTS",
    "batch_job_finished",
    "document_finished",
    "emit",
    "envelope",
    "INTAKE_OPEN",
    "fields_stored",
    "intake_finished",
    "jobs_finished",
    "page_corrected",
    "ping_event",
    "range_held",
    "subscribed",
]

EVENT_TYPES = (
    "document.done", "document.partial", "document.failed", "job.done", "fields.extracted", "fields.failed",
    "budget.held", "batch.job_finished", "page.corrected",
)

# what to do about a document that failed, by its error code (documents.error_code)
HINTS = {
    "encrypted": "submit it again with --password",
    "corrupt": "the file is damaged: obtain a good copy and submit it again",
    "empty": "the file has no pages: nothing to do",
    "unsupported": "convert it to PDF or an image format and submit it again",
    "too_large": "split it, or submit it with --pages",
    "auth": "check the API key (MISTRAL_API_KEY), then `pagemill retry DOC`",
    "budget": "raise the budget (`pagemill budget --job N --set USD`); held ranges go on at the next sweep",
    "batch_billing": "enable the Batch API for the key, or run without --batch",
}
_DEFAULT_HINT = "`pagemill status DOC` shows each range's error; `pagemill retry DOC` runs the failed ranges again"

_E = WebhookEvent.__table__


def _conn(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:  # SQLite gives naive UTC back
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(type_: str, data: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    return {"type": type_, "timestamp": _iso(at or datetime.now(UTC)), "data": data}


def new_msg_id() -> str:
    return "msg_" + uuid.uuid4().hex


def emit(target: Session | Connection, type_: str, data: dict[str, Any], *, subject: str,
         document_id: int | None = None, job_id: int | None = None, collection: str | None = None) -> None:
    """One event row in the caller's transaction."""
    now = datetime.now(UTC)
    _conn(target).execute(insert(_E).values(
        msg_id=new_msg_id(), type=type_, subject=subject[:80], document_id=document_id, job_id=job_id,
        collection=collection, payload=envelope(type_, data, now), fanned_out=False, created_at=now,
    ))


def subscribed(target: Session | Connection) -> bool:
    """Is any subscription enabled? Read in the change's transaction, so a subscription committed before it
    counts; the table holds a handful of rows, so no index is needed."""
    s = WebhookSubscription.__table__
    return bool(_conn(target).execute(select(exists().where(s.c.enabled.is_(True)))).scalar())


def _latest_job(conn: Connection, document_id: int) -> int | None:
    return conn.execute(select(func.max(JobDocument.job_id)).where(
        JobDocument.document_id == document_id)).scalar_one_or_none()


def document_finished(target: Session | Connection, document_id: int, status: str, jobs: bool = True) -> None:
    """document.done / .partial / .failed for a document that has just reached `status`; then job.done for its
    jobs that are over (`jobs` False: a file refused at intake, while the rest of its job is still arriving)."""
    if status not in (DocStatus.done, DocStatus.partial, DocStatus.failed):
        return
    conn = _conn(target)
    if not subscribed(conn):
        return
    d = Document.__table__
    doc = conn.execute(select(d.c.id, d.c.sha256, d.c.filename, d.c.mime_type, d.c.page_count, d.c.collection,
                              d.c.error, d.c.error_code, d.c.finished_at).where(d.c.id == document_id)).one_or_none()
    if doc is None:
        return
    done_pages = conn.execute(select(func.count()).select_from(Page).where(
        Page.document_id == document_id)).scalar_one()
    planned = conn.execute(select(PageRange.pages).where(PageRange.document_id == document_id)).scalars().all()
    total = sum(len(p or []) for p in planned) or (doc.page_count or 0)
    sources = sorted(s for s in conn.execute(select(Page.source).distinct().where(
        Page.document_id == document_id)).scalars() if s)
    job = _latest_job(conn, document_id)
    failed = status != DocStatus.done
    data = {
        "id": doc.id, "sha256": doc.sha256, "filename": doc.filename, "mime_type": doc.mime_type,
        "collection": doc.collection, "job": job, "status": status,
        "pages": {"done": int(done_pages), "total": int(total)}, "sources": sources,
        "error": doc.error if failed else None, "error_code": doc.error_code if failed else None,
        "what_to_do": (HINTS.get(doc.error_code or "", _DEFAULT_HINT).replace("DOC", str(doc.id))
                       if failed else None),
        "finished_at": _iso(doc.finished_at) or _iso(datetime.now(UTC)),
    }
    emit(conn, f"document.{status}", data, subject=f"document:{document_id}", document_id=document_id, job_id=job,
         collection=doc.collection)
    if jobs:
        jobs_finished(conn, document_id)


# a job's options carry this key from its creation until its intake is over (submit/run): until then more of its
# documents may still arrive, so no document finishing announces the job (scheduler/launch/submit.py)
INTAKE_OPEN = "intake_open"
_OPEN = (DocStatus.queued, DocStatus.running)


def _job_open(conn: Connection, job_id: int) -> bool:
    """Has the job a document not finished yet? Driven from the documents still open (their status index),
    each looked up in job_documents' (job, document) index: the cost follows the open documents, not the
    job's size, so checking at each finished document is not quadratic in a job's size."""
    jd, d = JobDocument.__table__, Document.__table__
    return bool(conn.execute(select(exists().where(
        d.c.status.in_(_OPEN), exists().where(jd.c.job_id == job_id, jd.c.document_id == d.c.id)))).scalar())


def _lock_jobs(conn: Connection, job_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Lock the job rows in id order (FOR UPDATE: two documents of a job finishing at once on PostgreSQL take
    turns, and the second sees the first's commit, so exactly one announces the job); their options."""
    j = Job.__table__
    return {row.id: row.options or {} for row in conn.execute(
        select(j.c.id, j.c.options).where(j.c.id.in_(job_ids)).order_by(j.c.id).with_for_update())}


def jobs_finished(conn: Connection, document_id: int) -> None:
    """job.done for each job of this document whose documents are now all finished and whose intake is over
    (a job that found this document a duplicate of one still running waits for it too)."""
    jd = JobDocument.__table__
    job_ids = list(conn.execute(select(jd.c.job_id).where(jd.c.document_id == document_id)
                                .order_by(jd.c.job_id)).scalars())
    if not job_ids:
        return
    for job_id, options in _lock_jobs(conn, job_ids).items():
        if not options.get(INTAKE_OPEN) and not _job_open(conn, job_id):
            emit(conn, "job.done", job_summary(conn, job_id), subject=f"job:{job_id}", job_id=job_id)


def intake_finished(target: Session | Connection, job_id: int) -> None:
    """The job's intake is over: its documents that finish from now on may announce it, and if every one is
    finished already (a job of duplicates, of refused files, or whose documents all finished while others were
    still being read) job.done is written now."""
    conn = _conn(target)
    options = _lock_jobs(conn, [job_id]).get(job_id)
    if options is None:
        return
    if options.get(INTAKE_OPEN):
        j = Job.__table__
        conn.execute(j.update().where(j.c.id == job_id).values(
            options={k: v for k, v in options.items() if k != INTAKE_OPEN}))
    if subscribed(conn) and not _job_open(conn, job_id):
        emit(conn, "job.done", job_summary(conn, job_id), subject=f"job:{job_id}", job_id=job_id)


def job_summary(conn: Connection, job_id: int) -> dict[str, Any]:
    jd, d = JobDocument.__table__, Document.__table__
    job = conn.execute(select(Job.__table__.c.kind, Job.__table__.c.created_at).where(
        Job.__table__.c.id == job_id)).one()
    by_status = dict(conn.execute(select(d.c.status, func.count()).select_from(jd.join(d, jd.c.document_id == d.c.id))
                                  .where(jd.c.job_id == job_id).group_by(d.c.status)).all())
    outcomes = dict(conn.execute(select(jd.c.outcome, func.count()).where(jd.c.job_id == job_id)
                                 .group_by(jd.c.outcome)).all())
    doc_ids = select(jd.c.document_id).where(jd.c.job_id == job_id, jd.c.outcome.in_(("queued", "forced")))
    pages = conn.execute(select(func.count()).select_from(Page).where(Page.document_id.in_(doc_ids))).scalar_one()
    billed, cost = conn.execute(select(func.coalesce(func.sum(Usage.pages_processed), 0),
                                       func.coalesce(func.sum(Usage.cost_usd), 0.0))
                                .where(Usage.document_id.in_(doc_ids))).one()
    return {
        "id": job_id, "kind": job.kind, "created_at": _iso(job.created_at),
        "documents": {"total": int(sum(outcomes.values())), "done": int(by_status.get(DocStatus.done, 0)),
                      "partial": int(by_status.get(DocStatus.partial, 0)),
                      "failed": int(by_status.get(DocStatus.failed, 0)),
                      "cancelled": int(by_status.get(DocStatus.cancelled, 0)),
                      "duplicates": int(outcomes.get("duplicate", 0))},
        "pages": {"stored": int(pages), "billed": int(billed or 0)},
        "cost_usd": round(float(cost or 0.0), 6),
    }


def fields_stored(target: Session | Connection, document_id: int, schema_sha256: str) -> None:
    """fields.extracted or fields.failed for the fields row just written."""
    conn = _conn(target)
    if not subscribed(conn):
        return
    f = FieldsRow.__table__
    row = conn.execute(select(f).where(f.c.document_id == document_id, f.c.schema_sha256 == schema_sha256)).one_or_none()
    if row is None or row.status not in ("done", "failed"):
        return
    d = Document.__table__
    doc = conn.execute(select(d.c.filename, d.c.sha256, d.c.collection).where(d.c.id == document_id)).one_or_none()
    job = _latest_job(conn, document_id)
    data = {
        "document_id": document_id, "filename": doc.filename if doc else None, "sha256": doc.sha256 if doc else None,
        "collection": doc.collection if doc else None, "job": job, "fields_id": row.id, "schema": row.schema_name,
        "schema_sha256": row.schema_sha256, "status": row.status, "source": row.source, "model": row.model,
        "fields": row.data if row.status == "done" else None,
        "error": row.error if row.status == "failed" else None,
        "error_code": row.error_code if row.status == "failed" else None,
    }
    type_ = "fields.extracted" if row.status == "done" else "fields.failed"
    emit(conn, type_, data, subject=f"document:{document_id}", document_id=document_id, job_id=job,
         collection=doc.collection if doc else None)


def range_held(target: Session | Connection, range_id: int, reason: str) -> None:
    conn = _conn(target)
    if not subscribed(conn):
        return
    r = PageRange.__table__
    row = conn.execute(select(r.c.document_id, r.c.pages, r.c.first_page, r.c.last_page).where(
        r.c.id == range_id)).one_or_none()
    if row is None:
        return
    d = Document.__table__
    collection = conn.execute(select(d.c.collection).where(d.c.id == row.document_id)).scalar_one_or_none()
    job = _latest_job(conn, row.document_id)
    data = {"range_id": range_id, "document_id": row.document_id, "job": job, "collection": collection,
            "pages": {"first": row.first_page, "last": row.last_page, "count": len(row.pages or [])},
            "reason": reason, "what_to_do": HINTS["budget"]}
    emit(conn, "budget.held", data, subject=f"document:{row.document_id}", document_id=row.document_id, job_id=job,
         collection=collection)


def batch_job_finished(target: Session | Connection, batch_job_id: int, stored: int, retried: int,
                       failed: int) -> None:
    conn = _conn(target)
    if not subscribed(conn):
        return
    b = BatchJob.__table__
    job = conn.execute(select(b).where(b.c.id == batch_job_id)).one_or_none()
    if job is None:
        return
    data = {"id": batch_job_id, "status": job.status, "provider_job_id": job.provider_job_id, "model": job.model,
            "requests": {"total": job.requests, "succeeded": job.succeeded_requests, "failed": job.failed_requests},
            "ranges": {"stored": stored, "retried": retried, "failed": failed},
            "error": job.error, "error_code": job.error_code, "finished_at": _iso(job.finished_at)}
    emit(conn, "batch.job_finished", data, subject=f"batch:{batch_job_id}")


def page_corrected(target: Session | Connection, document_id: int, page_index: int, author: str | None,
                   how: str = "correction") -> None:
    conn = _conn(target)
    if not subscribed(conn):
        return
    d = Document.__table__
    doc = conn.execute(select(d.c.filename, d.c.sha256, d.c.collection).where(d.c.id == document_id)).one_or_none()
    data = {"document_id": document_id, "filename": doc.filename if doc else None,
            "sha256": doc.sha256 if doc else None, "collection": doc.collection if doc else None,
            "page_index": page_index, "author": author, "how": how}
    emit(conn, "page.corrected", data, subject=f"document:{document_id}", document_id=document_id,
         job_id=_latest_job(conn, document_id), collection=doc.collection if doc else None)


def ping_event(url: str) -> dict[str, Any]:
    """The body of `pagemill webhooks test`: never stored."""
    return envelope("webhook.test", {"message": "a test event from pagemill", "url": url})

