"""Write a provider's result: images into the object store, pages/images/usage rows into the database.

The object store is a folder or an S3 bucket (worker/objects/); nothing here depends on which.

`prepare_result` does the slow part (decoding, hashing and writing image objects) before any transaction, so
the write transaction (the SQLite write lock, the document row lock on PostgreSQL) only inserts rows. An
object written for a transaction that then fails is harmless: objects are content-addressed and the retry
writes the same one. Writes are idempotent: pages are unique on (document_id, page_index), images on
(document_id, name), tables on (document_id, table_id) and blocks on (document_id, page_index, seq), and inserts
skip rows that exist, so a redelivered task never duplicates anything. The optional parts of a page (tables,
blocks, header/footer, links, confidence) are turned into rows by page_parts.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.corrections import keep_corrections
from models.tables import Image, Page, PageBlock, PageTable, Usage

from ..documents.inspect import read_image_size
from ..documents.mime import image_bytes_mime
from ..objects.store import IMAGE_EXTENSIONS, ObjectStore
from ..providers.base import OcrImage, OcrPage, OcrResult
from .page_parts import block_rows, page_fields, rename_placeholders, table_names, table_rows

__all__ = ["PreparedImage", "PreparedResult", "prepare_images", "prepare_result", "insert_prepared",
           "insert_prepared_many", "insert_ignore", "connection_of"]


@dataclass
class PreparedImage:
    page_index: int
    name: str
    provider_id: str
    image: OcrImage
    relpath: str
    sha256: str
    mime_type: str
    width: int | None
    height: int | None


def connection_of(target: Session | Connection) -> Connection:
    """The connection (and transaction) of a session, or the connection itself."""
    return target.connection() if isinstance(target, Session) else target


@functools.cache
def _insert_ignore_statement(dialect: str, table: Table, keys: tuple[str, ...], many: bool) -> Any:
    # built once per table: SQLAlchemy then reuses the compiled form (this runs for every range)
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    else:  # pragma: no cover - other databases are not supported
        return insert(table).inline()
    if many:
        # a RETURNING of one key column (read by nobody) is what makes SQLAlchemy send many rows as one
        # multi-row INSERT ("insertmanyvalues"); without it psycopg sends one INSERT per row, pipelined, which
        # cost intake ~75 us of client time per row (two rows per file: its name and its job entry)
        return stmt.returning(table.c[keys[0]])
    return stmt.inline()  # one row: nothing to fetch back


def insert_ignore(target: Session | Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if not rows:
        return
    table = getattr(table, "__table__", table)  # a Core insert: the ORM's bulk path costs more per row
    conn = connection_of(target)
    conn.execute(_insert_ignore_statement(conn.dialect.name, table, tuple(keys), len(rows) > 1), rows)


def _store_images(objects: ObjectStore, page: OcrPage) -> list[PreparedImage]:
    prepared: list[PreparedImage] = []
    for n, image in enumerate(page.images):
        if not image.data:
            continue
        mime = image_bytes_mime(image.data) or "application/octet-stream"
        ext = IMAGE_EXTENSIONS.get(mime, "bin")
        stored = objects.put_bytes(image.data, "images", ext)
        size = read_image_size(image.data)
        prepared.append(
            PreparedImage(
                page_index=page.index,
                name=f"img-{page.index}-{n}.{ext}",
                provider_id=image.id[:500],
                image=image,
                relpath=stored.relpath,
                sha256=stored.sha256,
                mime_type=mime,
                width=size[0] if size else None,
                height=size[1] if size else None,
            )
        )
    return prepared


def _image_names(prepared: list[PreparedImage]) -> dict[str, str]:
    names: dict[str, str] = {}
    for im in prepared:
        names.setdefault(im.image.id, im.name)
    return names


def prepare_images(objects: ObjectStore, page: OcrPage) -> tuple[str, list[PreparedImage]]:
    """Store a page's images under names pagemill chooses; return the markdown with placeholders renamed.

    A provider's image id (`img-0.jpeg`) is only used to find its placeholder in the markdown: ids restart
    in every request and may be hostile (`../../etc/passwd`), so the stored name is `img-<page>-<n>.<ext>`.
    """
    prepared = _store_images(objects, page)
    return rename_placeholders(page.index, page.markdown, _image_names(prepared), {}).markdown, prepared


@dataclass
class PreparedResult:
    """The rows of one provider result, its image objects already stored."""

    pages: list[dict[str, Any]]
    images: list[dict[str, Any]]
    usage: dict[str, Any] | None
    tables: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] | None = None  # the document annotation's fields row (worker/extraction/annotation.py)


def prepare_result(
    objects: ObjectStore,
    document_id: int,
    range_id: int,
    provider: str,
    result: OcrResult,
    cost_per_page_usd: float = 0.0,
    billing: str = "sync",
    annotated_cost_per_page_usd: float | None = None,
) -> PreparedResult:
    """Store the result's images in the object store and build its rows; touches no database. `billing` is the
    rate the pages were paid at (sync or batch); a request that carried an annotation format bills its pages at
    `annotated_cost_per_page_usd` instead (usage kind 'annotation', billing 'annotated' or 'batch_annotated')."""
    page_rows: list[dict[str, Any]] = []
    image_rows: list[dict[str, Any]] = []
    table_rows_: list[dict[str, Any]] = []
    block_rows_: list[dict[str, Any]] = []
    for page in result.pages:
        images = _store_images(objects, page)
        image_names, tables = _image_names(images), table_names(page)
        renamed = rename_placeholders(page.index, page.markdown, image_names, tables)
        page_rows.append(
            {
                "document_id": document_id,
                "page_index": page.index,
                "markdown": renamed.markdown,
                "width": page.width,
                "height": page.height,
                "dpi": page.dpi,
                "source": page.source or provider,
                "model": result.model,
                "range_id": range_id,
                **page_fields(page, renamed),
            }
        )
        image_rows.extend(_image_row(document_id, im) for im in images)
        table_rows_.extend(table_rows(document_id, page, tables, renamed.placed))
        block_rows_.extend(block_rows(document_id, page, image_names, tables))
    usage = None
    if result.annotated and annotated_cost_per_page_usd is not None:
        cost_per_page_usd = annotated_cost_per_page_usd
    if result.usage.pages_processed or result.billed:
        usage = {
            "document_id": document_id,
            "range_id": range_id,
            "kind": "annotation" if result.annotated else "ocr",
            "provider": provider,
            "model": result.model,
            "pages_processed": result.usage.pages_processed,
            "doc_size_bytes": result.usage.doc_size_bytes,
            "cost_usd": (result.usage.cost_usd if result.usage.cost_usd is not None
                         else result.usage.pages_processed * cost_per_page_usd) if result.billed else 0.0,
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "billing": _billing(billing, result),
        }
    return PreparedResult(page_rows, image_rows, usage, table_rows_, block_rows_)


def _billing(billing: str, result: OcrResult) -> str:
    # the rate follows what was asked (an annotation format sent), not what came back: a null annotation
    # is billed at the annotated rate all the same
    if not result.annotated:
        return billing
    return "annotated" if billing == "sync" else f"{billing}_annotated"


def _image_row(document_id: int, im: PreparedImage) -> dict[str, Any]:
    return {
        "document_id": document_id,
        "page_index": im.page_index,
        "name": im.name,
        "provider_id": im.provider_id,
        "top_left_x": im.image.top_left_x,
        "top_left_y": im.image.top_left_y,
        "bottom_right_x": im.image.bottom_right_x,
        "bottom_right_y": im.image.bottom_right_y,
        "path": im.relpath,
        "sha256": im.sha256,
        "mime_type": im.mime_type,
        "width": im.width,
        "height": im.height,
        "annotation": im.image.annotation,
    }


_USAGE_INSERT = insert(Usage.__table__).inline()  # nothing fetched back: can be pipelined


def insert_prepared(target: Session | Connection, prepared: PreparedResult) -> int:
    """Insert prepared rows inside the caller's transaction. Returns the number of pages written."""
    insert_prepared_many(target, [prepared])
    return len(prepared.pages)


def insert_prepared_many(target: Session | Connection, results: Sequence[PreparedResult]) -> None:
    """The rows of several results with one statement per table (executemany), inside the caller's
    transaction."""
    page_rows = [row for p in results for row in p.pages]
    insert_ignore(target, Page, page_rows, ["document_id", "page_index"])
    keep_corrections(connection_of(target), page_rows)  # a page a person corrected keeps its correction
    insert_ignore(target, Image, [row for p in results for row in p.images], ["document_id", "name"])
    insert_ignore(target, PageTable, [row for p in results for row in p.tables], ["document_id", "table_id"])
    insert_ignore(target, PageBlock, [row for p in results for row in p.blocks],
                  ["document_id", "page_index", "seq"])
    usage = [p.usage for p in results if p.usage is not None]
    if usage:
        connection_of(target).execute(_USAGE_INSERT, usage)
    fields = [p.fields for p in results if p.fields is not None]
    if fields:
        from ..extraction.annotation import upsert_fields_rows

        upsert_fields_rows(connection_of(target), fields)
