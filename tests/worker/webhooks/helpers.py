"""Rows for the webhook tests: documents with ranges, finished through the pipeline's own finish_document."""

from __future__ import annotations

from sqlalchemy import insert, select

from models.db import Database
from models.tables import Document, Job, JobDocument, Page, PageRange, RangeStatus, WebhookEvent, WebhookSubscription
from worker.ranges.store import finish_document
from worker.webhooks.settings import WebhookSettings

__all__ = ["document_with_ranges", "events", "fast_settings", "finish_range", "subscribe"]


def fast_settings(**kw: object) -> WebhookSettings:
    values: dict[str, object] = {"allow_private": True, "retry_base_s": 0.05, "retry_max_s": 0.5,
                                 "connect_timeout_s": 1.0, "timeout_s": 0.5, "poll_s": 0.05}
    values.update(kw)
    return WebhookSettings(**values)  # type: ignore[arg-type]


def document_with_ranges(db: Database, name: str, ranges: int = 2, job_id: int | None = None,
                         collection: str | None = None) -> tuple[int, list[int]]:
    with db.write_session() as s:
        if job_id is not None and s.get(Job, job_id) is None:
            s.add(Job(id=job_id, kind="run", options={}))
            s.flush()
        doc = Document(sha256=name.encode().hex().ljust(64, "0")[:64], filename=name, mime_type="application/pdf",
                       object_path="originals/x", status="queued", page_count=ranges, collection=collection)
        s.add(doc)
        s.flush()
        ids = []
        for i in range(ranges):
            r = PageRange(document_id=doc.id, seq=i, pages=[i], first_page=i, last_page=i, status=RangeStatus.queued)
            s.add(r)
            s.flush()
            ids.append(r.id)
        if job_id is not None:
            s.add(JobDocument(job_id=job_id, document_id=doc.id, filename=name, outcome="queued"))
        return doc.id, ids


def finish_range(db: Database, doc_id: int, range_id: int, ok: bool = True) -> str:
    with db.write_session() as s:
        r = s.get_one(PageRange, range_id)
        r.status = RangeStatus.done if ok else RangeStatus.failed
        if ok:
            s.execute(insert(Page), [{"document_id": doc_id, "page_index": p, "markdown": "x", "source": "tesseract",
                                      "range_id": range_id} for p in r.pages])
        else:
            r.error, r.error_code = "the provider said no", "rejected"
        return finish_document(s, doc_id)


def events(db: Database) -> list[WebhookEvent]:
    with db.read_session() as s:
        return list(s.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def subscribe(db: Database, url: str = "http://127.0.0.1:9/hook") -> int:
    """An enabled subscription row: events are written only while one exists (models/outbox.py)."""
    with db.write_session() as s:
        row = WebhookSubscription(url=url, secret="whsec_" + "A" * 44, source="cli", enabled=True, after_event_id=0)
        s.add(row)
        s.flush()
        return row.id
