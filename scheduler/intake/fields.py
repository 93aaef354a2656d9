"""What intake does for a document's fields (structured extraction): the run's schemas stored once, a pending
fields row per document and schema, and whether the schema can go in the OCR request itself."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Database
from models.tables import FieldsRow, FieldsStatus
from worker.ranges.persist import insert_ignore
from worker.settings import WorkerSettings

from .plan import parse_pages
from .types import IntakeOptions

__all__ = ["save_schemas", "want_fields", "annotate_in_request"]


def save_schemas(db: Database, settings: WorkerSettings) -> None:
    """The run's schemas, stored once per intake (before its documents name them)."""
    if not settings.extracts:
        return
    from worker.extraction.options import schemas_of
    from worker.extraction.store import save_schema

    for schema in schemas_of(settings):
        if schema is not None:
            save_schema(db, schema)


def want_fields(session: Session, document_id: int, options: dict[str, object]) -> bool:
    """A pending fields row for the document's schema, unless its fields are there; True when one is pending
    now (the worker that finishes the document, or `extract_now`, takes it)."""
    schema = options.get("schema")
    if not isinstance(schema, dict):
        return False
    now = datetime.now(UTC)
    insert_ignore(session, FieldsRow, [{
        "document_id": document_id, "schema_name": schema["name"], "schema_sha256": schema["sha256"],
        "status": FieldsStatus.pending, "created_at": now, "updated_at": now,
    }], ["document_id", "schema_sha256"])
    row = session.scalar(select(FieldsRow).where(FieldsRow.document_id == document_id,
                                                 FieldsRow.schema_sha256 == schema["sha256"]))
    if row is None or row.status == FieldsStatus.done:
        return False
    # a failed extraction is tried again when the document is submitted again
    row.status, row.source, row.error, row.error_code = FieldsStatus.pending, None, None, None
    return True


def annotate_in_request(options: dict[str, object], settings: WorkerSettings, opts: IntakeOptions,
                         page_count: int) -> bool:
    """The document schema goes in the OCR request when the provider can annotate, every page is OCR'd (no
    text layer taking some), and the selected pages fit PAGEMILL_ANNOTATION_MAX_PAGES; otherwise the fields
    are extracted from the stored markdown once the document is OCR'd."""
    if "schema" not in options or options.get("provider") != "mistral" or options.get("text_layer") != "never":
        return False
    selected = len(parse_pages(opts.pages, page_count))
    return 0 < selected <= min(settings.annotation_max_pages, settings.max_request_pages)
