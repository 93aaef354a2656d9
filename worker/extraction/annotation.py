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

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from models.errors import InvalidFields
from models.tables import FieldSchema, FieldsRow, FieldsStatus

from ..providers.base import AnnotationRequest, OcrResult
from . import ANNOTATE_KEY

if TYPE_CHECKING:
    from .schema import ExtractionSchema

__all__ = ["annotation_of", "annotation_for", "range_annotation", "fields_row", "upsert_fields_rows"]

_F = FieldsRow.__table__


def annotation_of(
    options: Mapping[str, Any] | None, load: Callable[[str], ExtractionSchema | None], whole_document: bool
) -> AnnotationRequest | None:
    """The annotation a range of a document with these options asks for in its OCR request, if any: the
    document schema only for a document planned as one request (ANNOTATE_KEY) whose range is sent whole
    (`whole_document`: no page of it stored by an earlier attempt), the image schema for every range."""
    if not options:
        return None
    schema = None
    if whole_document and options.get(ANNOTATE_KEY) and isinstance(options.get("schema"), Mapping):
        schema = load(options["schema"]["sha256"])
    image = load(options["image_schema"]["sha256"]) if isinstance(options.get("image_schema"), Mapping) else None
    if schema is None and image is None:
        return None
    return AnnotationRequest(
        schema_name=schema.name if schema else None, schema_sha256=schema.sha256 if schema else None,
        schema=schema.body if schema else None, prompt=options.get("extract_prompt"),
        image_schema_name=image.name if image else None, image_schema=image.body if image else None,
    )


def annotation_for(conn: Connection, options: Mapping[str, Any], whole_document: bool) -> AnnotationRequest | None:
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
