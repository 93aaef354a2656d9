"""One document from its stored markdown to a row of fields, through a chat model (no OCR request).

    outcome = extract_document(db, client, schema, doc_id, settings)   # Outcome("done" | "skipped" | "failed")

The answer is validated against the schema; an answer that does not validate (not JSON, JSON encoded twice,
an empty answer, a refusal, JSON that breaks the schema) is asked for once more with the validation error in
the prompt, then recorded as the document's extraction error (`fields.status` 'failed', `error`, shown by
`pagemill status DOC`), never stored as if valid. Every billed answer is a usage row of kind 'extract' with
its tokens. HTTP failures: 429/5xx/timeouts are retried here (Retry-After honoured); a 400 (a schema the
server refuses) is recorded on the document; 401/403 are raised, since every next document would meet them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from models.db import Database
from models.errors import InvalidFields, PagemillError, ProviderAuthError
from models.tables import DocStatus, Document, FieldsStatus, Page, PageTable

from ..ranges.retry import call_with_retries
from ..redact import redact
from .answer import parse_fields
from .client import Answer, ExtractClient
from .prompt import PageText, build_messages, retry_messages, select_pages
from .schema import ExtractionSchema
from .settings import DEFAULT_INSTRUCTIONS, ExtractSettings
from .store import fields_status, record_tokens, store_failure, store_fields

__all__ = ["Outcome", "extract_document", "stored_pages"]

log = logging.getLogger("pagemill.worker.extract")


@dataclass(frozen=True)
class Outcome:
    status: str  # done | skipped | failed
    message: str | None = None
    note: str | None = None


def stored_pages(db: Database, document_id: int) -> list[PageText]:
    """The document's pages as stored: markdown, and the header, footer and tables the OCR kept apart."""
    with db.read_session() as s:
        rows = s.execute(select(Page.page_index, Page.markdown, Page.header, Page.footer)
                         .where(Page.document_id == document_id).order_by(Page.page_index)).all()
        tables: dict[int, list[tuple[str, str]]] = {}
        for page_index, table_id, content in s.execute(
            select(PageTable.page_index, PageTable.table_id, PageTable.content)
            .where(PageTable.document_id == document_id).order_by(PageTable.page_index, PageTable.id)
        ):
            tables.setdefault(page_index, []).append((table_id, content or ""))
    return [PageText(index, markdown or "", tuple(tables.get(index, ())), header, footer)
            for index, markdown, header, footer in rows]


def _ask(
    client: ExtractClient, db: Database, document_id: int, messages: list[dict[str, object]],
    schema: ExtractionSchema, settings: ExtractSettings, sleep: Callable[[float], None],
) -> tuple[Answer, str | None]:
    answer, problem = call_with_retries(
        lambda: client.complete(messages, schema), settings.max_attempts, settings.retry_base_s,
        min(settings.retry_max_s, 60.0), sleep,
    )
    record_tokens(db, document_id, answer.model, answer.prompt_tokens, answer.completion_tokens,
                  settings.cost_usd(answer.prompt_tokens, answer.completion_tokens))
    return answer, problem


def _validated(answer: Answer, problem: str | None, schema: ExtractionSchema) -> dict[str, object]:
    if problem is not None:
        raise InvalidFields(problem)
    return parse_fields(answer.text, schema.body)


def extract_document(
    db: Database, client: ExtractClient, schema: ExtractionSchema, document_id: int, settings: ExtractSettings,
    force: bool = False, extra_prompt: str | None = None, previous_error: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """`previous_error`: why an earlier answer (an OCR annotation) was rejected, said in the first request."""
    with db.read_session() as s:
        doc = s.get(Document, document_id)
        if doc is None:
            return Outcome("skipped", f"no document {document_id}")
        status, filename = doc.status, doc.filename
    if not force and fields_status(db, document_id, schema.sha256) == FieldsStatus.done:
        return Outcome("skipped", f"already extracted with this {schema.name} schema (--force extracts again)")
    if status not in (DocStatus.done, DocStatus.partial):
        return Outcome("skipped", f"the document is {status}: only done or partial documents are extracted")
    pages = stored_pages(db, document_id)
    if not any(p.has_text for p in pages):
        message = "the document has no stored text to extract fields from"
        store_failure(db, document_id, schema, "chat", client.model, "empty", message)
        return Outcome("failed", message)
    selection = select_pages(pages, schema.body, settings.max_chars)
    messages = build_messages(DEFAULT_INSTRUCTIONS, extra_prompt or settings.prompt, schema.body, filename,
                              selection)
    if previous_error:
        # this request is the retry of an answer already rejected (the OCR's annotation): asked once
        messages[-1]["content"] = (f"{messages[-1]['content']}\n\nAn earlier answer for this document was "
                                   f"rejected: {previous_error}")
    model = client.model
    try:
        answer, problem = _ask(client, db, document_id, messages, schema, settings, sleep)
        model = answer.model
        try:
            data = _validated(answer, problem, schema)
        except InvalidFields as first:
            if previous_error:
                raise
            log.info("document %s: %s; asking once more", document_id, first.message)
            answer, problem = _ask(client, db, document_id, retry_messages(messages, answer.text, first.message),
                                   schema, settings, sleep)
            model = answer.model
            data = _validated(answer, problem, schema)
    except ProviderAuthError:
        raise
    except PagemillError as err:
        message = redact(err.message)
        if isinstance(err, InvalidFields):
            message = f"{message} (after asking twice)" if not previous_error else (
                f"{message} (the chat model's answer, after the annotation was rejected: {previous_error})")
        if not store_failure(db, document_id, schema, "chat", model, err.code, message, selection.note):
            message += "; the fields extracted before are kept"
        return Outcome("failed", message, selection.note)
    store_fields(db, document_id, schema, data, "chat", model, selection.note)
    return Outcome("done", note=selection.note)
