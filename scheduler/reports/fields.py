"""The extracted fields of one schema as rows: `document_id, filename`, then the schema's top-level properties.

    columns, rows = fields_table(db, "invoice")      # rows are dicts, values as the JSON held them
    write_fields(columns, rows, "csv", out)          # table | csv | json | jsonl

The columns are those of the newest schema stored under the name; each document contributes its newest valid
row of that name (documents whose extraction failed are not listed: `pagemill status DOC` shows why). In
table and CSV output a nested value (an object or a list) is written as JSON; json and jsonl keep it as is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import Any, TextIO

from sqlalchemy import select

from models.db import Database
from models.errors import ConfigError
from models.tables import Document, FieldSchema, FieldsRow, FieldsStatus

__all__ = ["FORMATS", "fields_table", "write_fields", "cell"]

FORMATS = ("table", "csv", "json", "jsonl")


def fields_table(db: Database, name: str) -> tuple[list[str], list[dict[str, Any]]]:
    with db.read_session() as s:
        newest = s.scalars(select(FieldSchema).where(FieldSchema.name == name)
                           .order_by(FieldSchema.created_at.desc()).limit(1)).first()
        if newest is None:
            known = sorted(set(s.scalars(select(FieldSchema.name))))
            hint = f"; known: {', '.join(known)}" if known else "; `pagemill extract --schema FILE` makes some"
            raise ConfigError(f"no fields named {name!r}{hint}")
        props = newest.body.get("properties") if isinstance(newest.body, dict) else None
        columns = ["document_id", "filename", *(props if isinstance(props, dict) else [])]
        found = s.execute(
            select(FieldsRow.document_id, Document.filename, FieldsRow.data)
            .join(Document, Document.id == FieldsRow.document_id)
            .where(FieldsRow.schema_name == name, FieldsRow.status == FieldsStatus.done)
            .order_by(FieldsRow.document_id, FieldsRow.updated_at.desc(), FieldsRow.id.desc())
        ).all()
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for doc_id, filename, data in found:
        if doc_id in seen:
            continue
        seen.add(doc_id)
        values = data if isinstance(data, dict) else {}
        rows.append({"document_id": doc_id, "filename": filename,
                     **{c: values.get(c) for c in columns[2:]}})
    return columns, rows


def cell(value: Any) -> str:
    """A value for a flat cell: text as is, nested values and numbers as JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def write_fields(columns: Sequence[str], rows: Sequence[dict[str, Any]], fmt: str, out: TextIO) -> None:
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row[c]) for c in columns])
    elif fmt == "json":
        json.dump(list(rows), out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
