"""`pagemill review` and the review_queue view: pages with a confidence score, least confident first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

from models.db import Database
from models.review import review_queue
from models.tables import Page
from scheduler.cli import app
from tests.results_db import add_document, migrated_database


def _scored(db: Database) -> tuple[int, int]:
    """Two documents; page scores (average, minimum) as below, one page of each without a score."""
    a = add_document(db, "a.pdf", ["a0", "a1", "a2", "a3"])
    b = add_document(db, "b.pdf", ["b0", "b1"])
    scores = {(a, 0): (0.97, 0.9), (a, 1): (0.42, 0.1), (a, 2): (0.81, 0.3), (b, 0): (0.42, 0.05),
              (b, 1): None, (a, 3): (0.79, 0.6)}
    with db.write_session() as s:
        for (doc, page), score in scores.items():
            if score:
                s.execute(update(Page).where(Page.document_id == doc, Page.page_index == page)
                          .values(confidence_avg=score[0], confidence_min=score[1]))
    return a, b


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    database = migrated_database(url)
    yield database
    database.dispose()


def test_the_least_confident_pages_come_first(db: Database) -> None:
    a, b = _scored(db)
    rows = review_queue(db)
    # ties on the average are broken by the minimum: the page with the worst word goes first
    assert [(r.document_id, r.page_index) for r in rows] == [(b, 0), (a, 1), (a, 3), (a, 2), (a, 0)]
    assert [(r.document_id, r.page_index) for r in review_queue(db, below=0.8)] == [(b, 0), (a, 1), (a, 3)]
    assert [(r.document_id, r.page_index) for r in review_queue(db, below=0.8, limit=2)] == [(b, 0), (a, 1)]
    assert [r.page_index for r in review_queue(db, doc_id=a, below=0.5)] == [1]
    first = rows[0]
    assert (first.filename, first.average, first.minimum) == ("b.pdf", 0.42, 0.05)
    with db.read_session() as s:  # the view gives SQL users the same list
        view = s.execute(text("SELECT document_id, page_index FROM review_queue")).all()
    assert [tuple(v) for v in view] == [(r.document_id, r.page_index) for r in rows]


def test_review_command_prints_the_worst_pages_first(tmp_path: Path) -> None:
    db = migrated_database(Database.from_settings().url)
    a, b = _scored(db)
    db.dispose()
    result = CliRunner().invoke(app, ["review", "--below", "0.8"])
    assert result.exit_code == 0, result.output
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if ".pdf" in line]
    assert [c[1:5] for c in cells] == [["b.pdf", "0", "0.420", "0.050"], ["a.pdf", "1", "0.420", "0.100"],
                                       ["a.pdf", "3", "0.790", "0.600"]]
    empty = CliRunner().invoke(app, ["review", "--below", "0.1"])
    assert empty.exit_code == 0 and "no pages to review below 0.1" in empty.output
    bad = CliRunner().invoke(app, ["review", "--below", "7"])
    assert bad.exit_code != 0
