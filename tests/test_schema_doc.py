"""docs/schema.md is a contract: its example SQL runs and returns rows, and it names every table and column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from models.db import Database
from models.tables import Base
from tests.docs_db import DIALECTS, filled_database, runs_on, sql_blocks

DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"


def examples() -> list[str]:
    return sql_blocks(DOC)


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from filled_database(request, tmp_path)


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
