"""The command line of extraction: a bad schema is refused before anything happens (exit 2, the file named,
what is wrong), and `pagemill fields` writes every format."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import Database
from models.tables import FieldSchema, FieldsRow
from tests.results_db import add_document

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120, cwd=cwd)


BAD = {
    "not-json.schema.json": ('{"type": "object", "properties": {', "not JSON"),
    "not-a-schema.schema.json": ('{"type": "object", "properties": {"total": {"type": "money"}}}',
                                 "not a valid JSON Schema at properties/total/type"),
    "a-string.schema.json": ('{"type": "string"}', "must describe an object"),
    "no-properties.schema.json": ('{"type": "object"}', 'no "properties"'),
    "a-list.schema.json": ("[1, 2]", "must be a JSON object"),
}


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("command", ["extract", "run"])
def test_a_bad_schema_is_refused_before_anything_is_sent(tmp_path: Path, name: str, command: str) -> None:
    body, expected = BAD[name]
    schema = tmp_path / name
    schema.write_text(body)
    doc = tmp_path / "a.pdf"
    doc.write_bytes(b"%PDF-1.4 not really")
    args = ["extract", "--schema", str(schema), "--all"] if command == "extract" else \
        ["run", "--schema", str(schema), str(doc)]
    out = _cli(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    message = " ".join(out.stderr.split())
    assert str(schema) in message.replace(" ", "") or name in message
    assert expected in message
    assert not (tmp_path / "data").exists()  # nothing registered, no database made


def test_fields_in_every_format(tmp_path: Path) -> None:
    db = Database.from_settings()
    db.migrate()
    a = add_document(db, "a.pdf", ["x"])
    b = add_document(db, 'b,"odd".pdf', ["y"])
    c = add_document(db, "c.pdf", ["z"])
    body = {"type": "object", "properties": {"total": {"type": "number"}, "parties": {"type": "array"}}}
    with db.write_session() as s:
        s.add(FieldSchema(sha256="a" * 64, name="invoice", body=body))
        s.flush()
        s.add_all([
            FieldsRow(document_id=a, schema_name="invoice", schema_sha256="a" * 64, status="done", source="chat",
                      data={"total": 12.5, "parties": ["ACME", "Bob"]}),
            FieldsRow(document_id=b, schema_name="invoice", schema_sha256="a" * 64, status="done",
                      source="annotation", data={"total": None, "parties": []}),
            FieldsRow(document_id=c, schema_name="invoice", schema_sha256="a" * 64, status="failed",
                      source="chat", error="the answer is empty", error_code="invalid_fields"),
        ])
    out = _cli("fields", "invoice", "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows == [["document_id", "filename", "total", "parties"], [str(a), "a.pdf", "12.5", '["ACME", "Bob"]'],
                    [str(b), 'b,"odd".pdf', "", "[]"]]
    as_json = json.loads(_cli("fields", "invoice", "--format", "json").stdout)
    assert as_json[0] == {"document_id": a, "filename": "a.pdf", "total": 12.5, "parties": ["ACME", "Bob"]}
    lines = _cli("fields", "invoice", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(x)["document_id"] for x in lines] == [a, b]
    target = tmp_path / "out.csv"
    written = _cli("fields", "invoice", "--format", "csv", "--out", str(target))
    assert written.returncode == 0 and "2 row(s)" in written.stderr
    assert target.read_text().splitlines()[0] == "document_id,filename,total,parties"
    table = _cli("fields", "invoice")
    assert "ACME" in table.stdout and "12.5" in table.stdout
    unknown = _cli("fields", "receipt")
    assert unknown.returncode == 3 and "known: invoice" in " ".join(unknown.stderr.split())
