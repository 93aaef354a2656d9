"""The OCR-request side of structured extraction: what a range asks to be annotated, and the fields row its
answer becomes (written in the same transaction as the range's pages).

    source.annotation = annotation_for(conn, doc_options, whole_document=True)   # at claim time
    row = fields_row(claimed.document_id, source.annotation, result)              # None: nothing asked

A valid `document_annotation` is a `done` row (source 'annotation'). An annotation that does not validate,
or is missing because the server refused the schema (its 400 is kept as the reason; the range's pages were
OCR'd again without it, worker/providers/mistral.py), is a `pending` row holding that reason: the document
is then extracted from its stored markdown by the chat model, with the reason in the prompt, which is the
one retry an invalid answer gets (worker/extraction/tasks.py). Nothing is OCR'd or billed twice for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from models.errors import InvalidFields
from models.tables import FieldSchema, FieldsRow, FieldsStatus

from ..providers.base import AnnotationRequest, OcrResult

__all__ = ["annotation_for", "range_annotation", "fields_row", "upsert_fields_rows"]

_F = FieldsRow.__table__


def annotation_for(conn: Connection, options: Mapping[str, Any], whole_document: bool) -> AnnotationRequest | None:
    from .options import annotation_of
    from .schema import ExtractionSchema

    def load(sha256: str) -> ExtractionSchema | None:
        row = conn.execute(select(FieldSchema.name, FieldSchema.body).where(FieldSchema.sha256 == sha256)).first()
        return ExtractionSchema(row.name, sha256, dict(row.body)) if row is not None else None

    return annotation_of(options, load, whole_document)


def range_annotation(conn: Connection, options: Mapping[str, Any] | None, member: Any,
                     stored: set[tuple[int, int]] | None = None) -> AnnotationRequest | None:
    """A batch range's annotation, as `_claimed` decides it for a synchronous one: the document schema only
    when no page of the range was stored before (`stored`: (document, page) pairs; at collect time, the pages
    the lines carried are the range's own). `member`: a batch_ranges.Member."""
    if not options or not ("schema" in options or "image_schema" in options):
        return None
    if stored is None:
        whole = {p for part in member.parts for p in part} >= set(member.pages)
    else:
        whole = not any((member.document_id, p) in stored for p in member.pages)
    return annotation_for(conn, options, whole_document=whole)


def fields_row(document_id: int, annotation: AnnotationRequest | None, result: OcrResult) -> dict[str, Any] | None:
    if annotation is None or annotation.schema is None or annotation.schema_sha256 is None:
        return None
    from .answer import parse_fields

    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "document_id": document_id, "schema_name": annotation.schema_name, "schema_sha256": annotation.schema_sha256,
        "source": "annotation", "model": result.model, "data": None, "note": None, "error": None,
        "error_code": None, "created_at": now, "updated_at": now,
    }
    if result.annotation_error is not None:
        return {**row, "status": FieldsStatus.pending, "error": result.annotation_error, "error_code": "rejected"}
    try:
        data = parse_fields(result.document_annotation, annotation.schema, "annotation")
    except InvalidFields as err:
        return {**row, "status": FieldsStatus.pending, "error": err.message, "error_code": err.code}
    return {**row, "status": FieldsStatus.done, "data": data}


def upsert_fields_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update by (document_id, schema_sha256); a row that validated is only replaced by another."""
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    for row in rows:
        stmt = module.insert(_F).inline().values(**row)  # nothing fetched back: it runs in a pipeline
        keep = {k: stmt.excluded[k] for k in row if k not in ("document_id", "schema_sha256", "created_at")}
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["document_id", "schema_sha256"], set_=keep,
            where=(stmt.excluded.status == FieldsStatus.done) | (_F.c.status != FieldsStatus.done),
        ))
