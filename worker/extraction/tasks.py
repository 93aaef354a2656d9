"""Celery side of structured extraction: after a document with a schema is OCR'd, its fields are extracted.

    enqueue_after_range(range_id)    # called by the OCR task after each range (a no-op without a schema)

A document submitted with --schema has a pending `fields` row from intake. When its last range is stored
(done or partial), the row is taken by exactly one worker (an UPDATE that only one can win) and
`pagemill.extract_fields` runs: a valid annotation from the OCR request leaves nothing to do; otherwise
(several ranges, the local engine, an annotation that did not validate or was refused) the fields come from
the stored markdown through the chat model, with the annotation's error in the prompt when there was one
(the one retry an invalid answer gets). Failures are recorded on the row, never raised into Celery.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown
from sqlalchemy import select, update

from models.errors import PagemillError
from models.tables import DocStatus, Document, FieldsRow, FieldsStatus, PageRange

from ..ratelimit.limiter import build_limiter
from ..redact import redact
from ..tasks.app import app

__all__ = ["extract_fields", "enqueue_after_range", "extract_stored", "take_extraction", "queue_untaken_fields"]

log = logging.getLogger("pagemill.worker.extract")


@dataclass
class _ExtractResources:
    pid: int
    settings: Any  # ExtractSettings
    client: Any  # ExtractClient


class ExtractTask(Task):  # type: ignore[misc]
    """One chat client (and its limiter) per worker process, built on first use."""

    _extract: _ExtractResources | None = None

    def extractor(self) -> _ExtractResources:
        if self._extract is None or self._extract.pid != os.getpid():
            from .client import ExtractClient
            from .settings import ExtractSettings

            settings = ExtractSettings()
            limiter = build_limiter(app.settings, name=settings.limiter_name, rate_per_s=settings.rate_limit,
                                    max_inflight=settings.max_inflight, lease_s=settings.timeout_s + 30)
            client = ExtractClient.from_settings(settings, app.settings.api_key, limiter)
            self._extract = _ExtractResources(os.getpid(), settings, client)
        return self._extract


def take_extraction(db: Any, document_id: int, schema_sha256: str) -> bool:
    """The pending row of a finished document, taken by one caller: source NULL (never tried) or
    'annotation' (the OCR's annotation was refused or invalid) becomes 'chat'."""
    with db.write_session() as s:
        result = s.execute(update(FieldsRow).where(
            FieldsRow.document_id == document_id, FieldsRow.schema_sha256 == schema_sha256,
            FieldsRow.status == FieldsStatus.pending,
            (FieldsRow.source.is_(None)) | (FieldsRow.source == "annotation"),
        ).values(source="chat", updated_at=datetime.now(UTC)))
        return bool(result.rowcount)


@app.task(name="pagemill.extract_fields", base=ExtractTask, bind=True, acks_late=True, reject_on_worker_lost=True)
def extract_fields(self: ExtractTask, document_id: int, schema_sha256: str) -> str:
    from .extract import extract_document
    from .store import load_stored_schema, store_failure

    db = app.resources().db
    schema = load_stored_schema(db, schema_sha256)
    if schema is None:
        return "skipped: unknown schema"
    with db.read_session() as s:
        doc = s.get(Document, document_id)
        row = s.scalar(select(FieldsRow).where(FieldsRow.document_id == document_id,
                                               FieldsRow.schema_sha256 == schema_sha256))
        if doc is None or row is None:
            return "skipped"
        prompt = (doc.options or {}).get("extract_prompt")
        previous = row.error  # why the OCR's annotation was not kept, if it was asked for
    try:
        x = self.extractor()
        outcome = extract_document(db, x.client, schema, document_id, x.settings, extra_prompt=prompt,
                                   previous_error=previous)
    except PagemillError as err:  # 401/403 or a missing key: recorded on the document, the worker goes on
        message = redact(err.message)
        log.error("document %s: fields not extracted: %s", document_id, message)
        store_failure(db, document_id, schema, "chat", None, err.code, message)
        return f"failed: {err.code}"
    except Exception as exc:
        log.exception("document %s: extraction crashed", document_id)
        store_failure(db, document_id, schema, "chat", None, "other", f"internal error: {type(exc).__name__}: {exc}")
        return "failed: other"
    return outcome.status


def enqueue_extraction(document_id: int, schema_sha256: str) -> None:
    extract_fields.apply_async(args=[document_id, schema_sha256], queue=app.settings.queue)


def extract_stored(db: Any, document_id: int) -> bool:
    """A known document whose pages are all stored, submitted with a schema: extract its fields now (intake's
    `extract_now`). True when a task was queued."""
    with db.read_session() as s:
        options = s.scalar(select(Document.options).where(Document.id == document_id)) or {}
    schema = options.get("schema")
    if not isinstance(schema, dict) or not take_extraction(db, document_id, schema["sha256"]):
        return False
    enqueue_extraction(document_id, schema["sha256"])
    return True


def queue_untaken_fields(db: Any, document_ids: Sequence[int] | None = None) -> int:
    """Pending fields rows of finished documents that no worker took (its range ended without the hook: out
    of attempts at claim time, a worker lost between store and hook): take and queue them, or fail them when
    the document's OCR failed. Run by the sweep and by waiters; returns how many were queued."""
    from .store import load_stored_schema, store_failure

    query = (select(FieldsRow.document_id, FieldsRow.schema_sha256, Document.status)
             .join(Document, Document.id == FieldsRow.document_id)
             .where(FieldsRow.status == FieldsStatus.pending,
                    FieldsRow.source.is_(None) | (FieldsRow.source == "annotation"),
                    Document.status.in_(tuple(DocStatus.TERMINAL))))
    if document_ids is not None:
        query = query.where(FieldsRow.document_id.in_(list(document_ids)))
    with db.read_session() as s:
        rows = s.execute(query).all()
    queued = 0
    for document_id, sha, status in rows:
        if status in (DocStatus.done, DocStatus.partial):
            if take_extraction(db, document_id, sha):
                enqueue_extraction(document_id, sha)
                queued += 1
            continue
        schema = load_stored_schema(db, sha)
        if schema is not None:
            store_failure(db, document_id, schema, "chat", None, "empty",
                          f"the document is {status}: there is no text to extract fields from")
    return queued


def enqueue_after_range(range_id: int) -> None:
    """After a range is stored or failed: extract the document's fields once it is finished."""
    try:
        db = app.resources().db
        with db.read_session() as s:
            found = s.execute(select(Document.id, Document.status, Document.options)
                              .join(PageRange, PageRange.document_id == Document.id)
                              .where(PageRange.id == range_id)).first()
        if found is None or not isinstance((found.options or {}).get("schema"), dict):
            return
        sha = found.options["schema"]["sha256"]
        if found.status == DocStatus.failed:
            from .store import load_stored_schema, store_failure

            schema = load_stored_schema(db, sha)
            if schema is not None:
                store_failure(db, found.id, schema, "chat", None, "empty",
                              "the document's OCR failed: there is no text to extract fields from")
            return
        if found.status in (DocStatus.done, DocStatus.partial) and take_extraction(db, found.id, sha):
            enqueue_extraction(found.id, sha)
    except Exception as exc:
        log.warning("range %s: fields not queued for extraction (%s: %s)", range_id, type(exc).__name__,
                    redact(str(exc)))


@worker_process_shutdown.connect
def _close_extract(**_: Any) -> None:
    x = extract_fields._extract
    if x is not None and x.pid == os.getpid():
        x.client.close()
    extract_fields._extract = None
