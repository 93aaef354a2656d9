"""The rows of extraction: `field_schemas` (each schema used, by hash) and `fields` (one per document and schema).

A failure never replaces fields that validated: `store_failure` leaves a `done` row as it is (the caller still
reports the error), so `--force` cannot lose good data to a bad answer. Every write is an upsert by
(document_id, schema_sha256) on both databases: insert-or-ignore a row, then update it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from models.db import Database
from models.outbox import fields_stored
from models.tables import FieldSchema, FieldsRow, FieldsStatus, Usage

from ..ranges.persist import connection_of, insert_ignore
from .schema import ExtractionSchema

__all__ = ["save_schema", "load_stored_schema", "claim_fields", "store_fields", "store_failure", "fields_status",
           "record_tokens"]


def save_schema(db: Database, schema: ExtractionSchema) -> None:
    with db.write_session() as s:
        insert_ignore(s, FieldSchema, [{"sha256": schema.sha256, "name": schema.name, "body": schema.body,
                                        "created_at": datetime.now(UTC)}], ["sha256"])


def load_stored_schema(db: Database, sha256: str) -> ExtractionSchema | None:
    with db.read_session() as s:
        row = s.get(FieldSchema, sha256)
        return ExtractionSchema(row.name, row.sha256, dict(row.body)) if row is not None else None


def _ensure_row(s: Any, document_id: int, schema: ExtractionSchema) -> bool:
    """Insert a pending row unless one exists; True when this call inserted it."""
    now = datetime.now(UTC)
    result = connection_of(s).execute(
        _insert_statement(connection_of(s).dialect.name),
        [{"document_id": document_id, "schema_name": schema.name, "schema_sha256": schema.sha256,
          "status": FieldsStatus.pending, "created_at": now, "updated_at": now}],
    )
    return bool(result.rowcount)


def _insert_statement(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(FieldsRow.__table__).on_conflict_do_nothing(index_elements=["document_id", "schema_sha256"])


def claim_fields(db: Database, document_id: int, schema: ExtractionSchema) -> bool:
    """Take the extraction of this document for this schema: True for exactly one caller, the one whose row
    is new, so two workers finishing a document's last ranges at once extract (and pay) once."""
    with db.write_session() as s:
        return _ensure_row(s, document_id, schema)


def fields_status(db: Database, document_id: int, schema_sha256: str) -> str | None:
    with db.read_session() as s:
        return s.scalar(select(FieldsRow.status).where(
            FieldsRow.document_id == document_id, FieldsRow.schema_sha256 == schema_sha256))


def store_fields(db: Database, document_id: int, schema: ExtractionSchema, data: dict[str, Any], source: str,
                 model: str | None, note: str | None = None) -> None:
    with db.write_session() as s:
        _ensure_row(s, document_id, schema)
        s.execute(update(FieldsRow).where(
            FieldsRow.document_id == document_id, FieldsRow.schema_sha256 == schema.sha256,
        ).values(status=FieldsStatus.done, data=data, source=source, model=model, note=note, error=None,
                 error_code=None, schema_name=schema.name, updated_at=datetime.now(UTC)))
        fields_stored(s, document_id, schema.sha256)  # fields.extracted, in this transaction


def store_failure(db: Database, document_id: int, schema: ExtractionSchema, source: str, model: str | None,
                  code: str, message: str, note: str | None = None) -> bool:
    """Record why there are no fields; False when valid fields were kept (a done row is never overwritten)."""
    with db.write_session() as s:
        _ensure_row(s, document_id, schema)
        result = s.execute(update(FieldsRow).where(
            FieldsRow.document_id == document_id, FieldsRow.schema_sha256 == schema.sha256,
            FieldsRow.status != FieldsStatus.done,
        ).values(status=FieldsStatus.failed, data=None, source=source, model=model, note=note, error=message,
                 error_code=code, updated_at=datetime.now(UTC)))
        if result.rowcount:
            fields_stored(s, document_id, schema.sha256)  # fields.failed, in this transaction
        return bool(result.rowcount)


def record_tokens(db: Database, document_id: int, model: str | None, prompt_tokens: int | None,
                  completion_tokens: int | None, cost_usd: float | None) -> None:
    """One usage row (kind 'extract') per billed chat answer, whatever became of the answer."""
    with db.write_session() as s:
        s.add(Usage(document_id=document_id, kind="extract", provider="extract", model=model, pages_processed=0,
                    prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost_usd))
