"""docs/schema.md is a contract: its example SQL runs and returns rows, and it names every table and column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from models.corrections import save_correction
from models.db import Database
from models.tables import (
    Base,
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

DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"
BLOCK = re.compile(r"```sql\n(.*?)```", re.S)


def examples() -> list[str]:
    return BLOCK.findall(DOC.read_text())


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


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'doc.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    database = migrated_database(url)
    populate(database)
    yield database
    database.dispose()


def test_the_document_has_the_four_questions_and_both_dialects() -> None:
    body = DOC.read_text()
    for heading in ("Pages containing a word", "Documents that failed", "Pages billed per day",
                    "Images per document", "Tables containing a word", "Pages to check first"):
        assert f"### {heading}" in body
    sql = examples()
    assert any(runs_on(s, "sqlite") and not runs_on(s, "postgresql") for s in sql)
    assert any(runs_on(s, "postgresql") and not runs_on(s, "sqlite") for s in sql)


def test_every_example_runs_and_returns_rows(db: Database) -> None:
    dialect = db.engine.dialect.name
    applicable = [sql for sql in examples() if runs_on(sql, dialect)]
    assert len(applicable) >= 8
    for sql in applicable:
        with db.read_session() as s:
            rows = s.execute(text(sql)).all()
        assert rows, f"no rows on {dialect} from:\n{sql}"


def test_examples_answer_their_question(db: Database) -> None:
    """Spot checks that the examples return the right rows, not just some rows."""
    with db.read_session() as s:
        dialect = db.engine.dialect.name
        for sql in (x for x in examples() if ("invoice" in x and "fields" not in x and runs_on(x, dialect))):
            found = {(r.filename, r.page_index) for r in s.execute(text(sql))}
            assert found == {("invoice-2024.pdf", 0), ("minutes.pdf", 0)}, sql
        failures = s.execute(text(next(x for x in examples() if "FROM failures" in x))).all()
        assert {(r.filename, r.error_code) for r in failures} == {("locked.pdf", "encrypted"),
                                                                 ("minutes.pdf", "rejected")}
        billed = s.execute(text(next(x for x in examples() if "FROM usage_per_day" in x))).all()
        assert [int(r.pages) for r in billed] == [2, 1]
        images = s.execute(text(next(x for x in examples() if "count(i.id)" in x))).all()
        assert (images[0].filename, images[0].images) == ("invoice-2024.pdf", 2)
        fields = [x for x in examples() if "FROM fields f JOIN" in x and runs_on(x, dialect) and "AS total" in x]
        assert len(fields) == 1
        totals = s.execute(text(fields[0])).all()
        assert [(r.invoice_number, float(r.total)) for r in totals] == [("INV-117", 1250.5), ("INV-118", 99.0)]
        per_currency = s.execute(text(next(x for x in examples() if "Totals per currency" not in x
                                           and "AS invoices" in x and runs_on(x, dialect)))).all()
        assert [(r.currency, r.invoices, float(r.total)) for r in per_currency] == [("EUR", 2, 1349.5)]
        items = s.execute(text(next(x for x in examples() if "line_items" in x and runs_on(x, dialect)))).all()
        assert [(r.item, float(r.amount)) for r in items] == [("Paper", 1000.0), ("Ink", 250.5)]
        failed = s.execute(text(next(x for x in examples() if "WHERE f.status = 'failed'" in x))).all()
        assert [(r.filename, r.error_code) for r in failed] == [("locked.pdf", "invalid_fields")]
        for sql in (x for x in examples() if "widget" in x and runs_on(x, dialect)):
            assert [(r.filename, r.page_index, r.table_id) for r in s.execute(text(sql))] == [
                ("invoice-2024.pdf", 1, "tbl-1-0.html")]
        review = s.execute(text(next(x for x in examples() if "FROM review_queue" in x))).all()
        assert [(r.filename, r.page_index) for r in review] == [("invoice-2024.pdf", 1), ("minutes.pdf", 0)]
        blocks = s.execute(text(next(x for x in examples() if "FROM page_blocks" in x))).all()
        assert [(b.page_index, b.type) for b in blocks] == [(1, "table")]


def test_every_table_and_column_is_documented() -> None:
    body = DOC.read_text()
    internal = {"rate_limits", "budget_spend"}
    for table in Base.metadata.sorted_tables:
        assert f"`{table.name}`" in body, f"table {table.name} is not documented"
        if table.name in internal:
            continue
        for column in table.columns:
            assert f"`{column.name}`" in body, f"column {table.name}.{column.name} is not documented"
