"""The database the documentation's SQL runs against: migrated, then filled with the rows the examples ask about.

Shared by tests/test_schema_doc.py (docs/schema.md) and tests/test_docs.py (every other page's SQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from models.corrections import save_correction
from models.db import Database
from models.tables import (
    BatchJob,
    BatchJobRange,
    Document,
    FieldSchema,
    FieldsRow,
    Image,
    Page,
    PageBlock,
    PageRange,
    PageTable,
    Usage,
)
from tests.results_db import add_document, migrated_database

__all__ = ["DIALECTS", "filled_database", "populate", "runs_on", "sql_blocks"]

BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)


def sql_blocks(doc: Path) -> list[str]:
    """The ```sql blocks of a markdown file; a block whose first line is `-- sqlite` or `-- postgresql` runs on
    that database only."""
    return BLOCK.findall(doc.read_text())


def runs_on(sql: str, dialect: str) -> bool:
    first = sql.lstrip().splitlines()[0].strip().lower()
    if first == "-- sqlite":
        return dialect == "sqlite"
    if first == "-- postgresql":
        return dialect == "postgresql"
    return True


def populate(db: Database) -> None:
    """A done document with an invoice page and images, a partial one with a failed range, a failed one."""
    done = add_document(db, "invoice-2024.pdf", ["Invoice 117, total due 1250 EUR", "Terms and conditions"])
    partial = add_document(db, "minutes.pdf", ["Minutes of the meeting: the invoice was approved"],
                           status="partial")
    failed = add_document(db, "locked.pdf", [], status="failed")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with db.write_session() as s:
        s.get(Document, failed).error = "the PDF is encrypted; give its password with --password"
        s.get(Document, failed).error_code = "encrypted"
        s.add(PageRange(document_id=partial, seq=1, pages=[1, 2], first_page=1, last_page=2, status="failed",
                        attempts=3, error="the provider rejected the request", error_code="rejected"))
        for n in range(2):
            s.add(Image(document_id=done, page_index=0, name=f"img-0-{n}.png", path=f"images/aa/{n}.png",
                        sha256=str(n) * 64, mime_type="image/png"))
        s.add(PageTable(document_id=done, page_index=1, table_id="tbl-1-0.html", format="html",
                        content="<table><tr><td>Widget</td><td>3</td></tr></table>", text="Widget 3"))
        s.add(PageBlock(document_id=done, page_index=1, seq=0, type="table", top_left_x=10, top_left_y=20,
                        bottom_right_x=300, bottom_right_y=90, content="| Widget | 3 |", table_id="tbl-1-0.html",
                        confidence=0.61))
        for page in s.scalars(select(Page).where(Page.document_id.in_([done, partial]))):
            page.confidence_avg, page.confidence_min = {0: (0.97, 0.9), 1: (0.64, 0.2)}[page.page_index]
            if page.document_id == partial:
                page.confidence_avg, page.confidence_min = 0.75, 0.5
        s.add(FieldSchema(sha256="f" * 64, name="invoice", body={"type": "object", "properties": {}}))
        s.flush()
        items = [{"description": "Paper", "amount": 1000.0}, {"description": "Ink", "amount": 250.5}]
        s.add_all([
            FieldsRow(document_id=done, schema_name="invoice", schema_sha256="f" * 64, status="done",
                      source="annotation", data={"invoice_number": "INV-117", "total": 1250.5, "currency": "EUR",
                                                 "line_items": items}),
            FieldsRow(document_id=partial, schema_name="invoice", schema_sha256="f" * 64, status="done",
                      source="chat", data={"invoice_number": "INV-118", "total": 99.0, "currency": "EUR",
                                           "line_items": []}),
            FieldsRow(document_id=failed, schema_name="invoice", schema_sha256="f" * 64, status="failed",
                      source="chat", error="the answer is not JSON", error_code="invalid_fields"),
        ])
        s.add_all([
            Usage(document_id=done, provider="mistral", model="mistral-ocr-latest", pages_processed=2,
                  cost_usd=0.002, created_at=yesterday),
            Usage(document_id=partial, provider="mistral", model="mistral-ocr-latest", pages_processed=1,
                  cost_usd=0.001),
        ])
        job = BatchJob(token="t" * 32, status="SUCCESS", provider_job_id="job-1", model="mistral-ocr-latest",
                       requests=1)
        s.add(job)
        s.flush()
        rng = s.scalars(select(PageRange).where(PageRange.document_id == partial)).first()
        s.add(BatchJobRange(batch_job_id=job.id, range_id=rng.id, attempt=1, parts=[[1, 2]], outcome="retried"))
    save_correction(db, done, 1, "Terms and conditions (corrected)", author="ana")


DIALECTS = ("sqlite", "postgresql")


def filled_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """For a fixture parametrised over DIALECTS: a migrated, populated database (PostgreSQL through the
    `postgres_url` fixture, which skips with its reason when there is none)."""
    url = f"sqlite:///{tmp_path / 'doc.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    database = migrated_database(url)
    populate(database)
    yield database
    database.dispose()
