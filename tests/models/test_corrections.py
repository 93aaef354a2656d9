"""A corrected page keeps its correction when OCR stores it again (the workers' store path, both databases):
the new OCR output waits beside it as a pending version until a person chooses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from models.corrections import choose_version, keep_held_text, pending_versions, save_correction
from models.db import Database
from models.search import search
from models.tables import Page, PageVersion
from tests.results_db import add_document, migrated_database
from worker.ranges.persist import PreparedResult, insert_prepared_many


@pytest.fixture(params=["sqlite", "postgresql"])
def both_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'results.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    db = migrated_database(url)
    yield db
    db.dispose()


def _ocr_stores(db: Database, doc: int, pages: dict[int, str]) -> None:
    """What a worker's store does with a result (worker/ranges/store.py store_prepared: one write transaction)."""
    rows = [{"document_id": doc, "page_index": i, "markdown": md, "width": None, "height": None, "dpi": None,
             "source": "mistral", "model": "mistral-ocr-latest", "range_id": None} for i, md in pages.items()]
    with db.write_connection() as conn:
        insert_prepared_many(conn, [PreparedResult(rows, [], None)])


def _text(db: Database, doc: int, index: int) -> str:
    with db.read_session() as s:
        return s.scalar(select(Page.markdown).where(Page.document_id == doc, Page.page_index == index)) or ""


def _forced_rerun_wipes(db: Database, doc: int) -> None:
    with db.write_session() as s:  # as `run --force` does (scheduler/intake/register.py _wipe)
        s.execute(delete(Page).where(Page.document_id == doc))


def test_a_forced_rerun_keeps_the_correction_and_records_the_new_ocr_beside_it(both_databases: Database) -> None:
    db = both_databases
    doc = add_document(db, "a.pdf", ["teh first page", "second page"])
    save_correction(db, doc, 0, "the first page", author="ana")
    _forced_rerun_wipes(db, doc)

    _ocr_stores(db, doc, {0: "thee first page", 1: "second page again"})

    assert _text(db, doc, 0) == "the first page"
    assert _text(db, doc, 1) == "second page again"  # uncorrected pages take the new output
    (pending,) = pending_versions(db, doc, 0)
    assert (pending.markdown, pending.source) == ("thee first page", "mistral")
    assert [h.page_index for h in search(db, "the first")] == [0]
    assert search(db, "thee") == []

    _ocr_stores(db, doc, {0: "thee first page"})  # a redelivered store changes nothing
    assert len(pending_versions(db, doc, 0)) == 1


def test_choosing_the_new_version_makes_it_the_text_and_releases_the_page(both_databases: Database) -> None:
    db = both_databases
    doc = add_document(db, "a.pdf", ["old"])
    save_correction(db, doc, 0, "corrected", author="ana")
    _forced_rerun_wipes(db, doc)
    _ocr_stores(db, doc, {0: "new ocr"})
    (pending,) = pending_versions(db, doc, 0)

    choose_version(db, pending.id, author="bo")

    assert _text(db, doc, 0) == "new ocr"
    assert [h.page_index for h in search(db, "new")] == [0]
    _forced_rerun_wipes(db, doc)
    _ocr_stores(db, doc, {0: "newest"})
    assert _text(db, doc, 0) == "newest"  # nothing holds the page any more
    with db.read_session() as s:
        statuses = s.scalars(select(PageVersion.status).order_by(PageVersion.id)).all()
    assert statuses == ["history", "history", "chosen"]


def test_keeping_the_correction_dismisses_the_new_output(both_databases: Database) -> None:
    db = both_databases
    doc = add_document(db, "a.pdf", ["old"])
    save_correction(db, doc, 0, "corrected", author="ana")
    _forced_rerun_wipes(db, doc)
    _ocr_stores(db, doc, {0: "new ocr"})

    keep_held_text(db, doc, 0, author="ana")

    assert pending_versions(db, doc, 0) == []
    assert _text(db, doc, 0) == "corrected"
    _forced_rerun_wipes(db, doc)
    _ocr_stores(db, doc, {0: "again"})
    assert _text(db, doc, 0) == "corrected"  # a correction keeps holding the page
