"""Full-text search: the same behaviour on SQLite (FTS5) and PostgreSQL (tsvector), index kept by the DB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from models.db import Database
from models.errors import ConfigError
from models.search import HIGHLIGHT_END, HIGHLIGHT_START, search
from models.tables import Document, Image, Page, PageTable
from tests.results_db import add_document, migrated_database

FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'search.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = migrated_database(url)
    yield database
    database.dispose()


def test_a_unique_word_finds_its_page(db: Database) -> None:
    doc = add_document(db, "report.pdf", [f"{FILLER} one", f"{FILLER} zanzibar two", f"{FILLER} three"])
    add_document(db, "other.pdf", [f"{FILLER} four"])

    hits = search(db, "zanzibar")

    assert [(h.document_id, h.filename, h.page_index) for h in hits] == [(doc, "report.pdf", 1)]


def test_all_words_must_appear(db: Database) -> None:
    add_document(db, "a.pdf", ["invoice total 120 EUR", "invoice only", "total only"])
    hits = search(db, "invoice total")
    assert [h.page_index for h in hits] == [0]


def test_a_page_with_the_word_twice_ranks_above_a_page_with_it_once(db: Database) -> None:
    # same length, so only the number of occurrences differs
    add_document(db, "once.pdf", [f"{FILLER} quokka alpha beta"])
    add_document(db, "twice.pdf", [f"{FILLER} quokka alpha quokka"])

    hits = search(db, "quokka")

    assert [h.filename for h in hits] == ["twice.pdf", "once.pdf"]
    assert hits[0].rank > hits[1].rank


def test_snippets_highlight_the_matched_word(db: Database) -> None:
    add_document(db, "a.pdf", [f"{FILLER} the platypus swims {FILLER}"])
    (hit,) = search(db, "Platypus")
    assert f"{HIGHLIGHT_START}platypus{HIGHLIGHT_END}" in hit.snippet
    assert "swims" in hit.snippet


def test_doc_and_limit_narrow_the_results(db: Database) -> None:
    first = add_document(db, "a.pdf", ["wombat here", "wombat there"])
    add_document(db, "b.pdf", ["wombat elsewhere"])
    assert {h.document_id for h in search(db, "wombat", doc_id=first)} == {first}
    assert len(search(db, "wombat", limit=2)) == 2
    assert len(search(db, "wombat")) == 3


def test_prefix_search_with_a_star(db: Database) -> None:
    add_document(db, "a.pdf", ["invoices are due", "nothing here"])
    assert [h.page_index for h in search(db, "invoic*")] == [0]
    assert search(db, "invoic") == []


# Pages where a query read as FTS syntax would find something else: "OR" as an operator would find every kiwi,
# "-x" as NOT would drop x.pdf, "kiwi:*" as a prefix would find kiwis.pdf. Read as words that must all appear,
# each query finds exactly the documents listed (None: no word at all, refused with a readable error).
_SYNTAX_PAGES = {
    "fruit.pdf": "a kiwi fruit and a pear",
    "near.pdf": "near the kiwi farm",
    "x.pdf": "x marks the kiwi spot",
    "ornot.pdf": "kiwi or not",
    "kiwis.pdf": "kiwis fly at night",
    "drop.pdf": "drop table pages",
}
_EVERY_KIWI = {"fruit.pdf", "near.pdf", "x.pdf", "ornot.pdf"}


@pytest.mark.parametrize(("query", "expected"), [
    ('"', None),
    ("AND", {"fruit.pdf"}),
    ("kiwi OR", {"ornot.pdf"}),
    ("NEAR(kiwi", {"near.pdf"}),
    ('kiwi -"x', {"x.pdf"}),
    ("kiwi:*", _EVERY_KIWI),
    ("kiwi'); --", _EVERY_KIWI),
    ("(*)^", None),
])
def test_fts_syntax_in_user_queries_is_read_as_plain_words(db: Database, query: str,
                                                            expected: set[str] | None) -> None:
    for filename, markdown in _SYNTAX_PAGES.items():
        add_document(db, filename, [markdown])
    if expected is None:
        with pytest.raises(ConfigError, match="at least one word"):
            search(db, query)
        return
    assert {h.filename for h in search(db, query)} == expected
    assert search(db, "drop table") != []  # and the pages table is still there


def test_a_query_without_words_is_a_readable_error(db: Database) -> None:
    with pytest.raises(ConfigError, match="at least one word"):
        search(db, '"" ** --')


def test_the_index_follows_updates_and_deletes(db: Database) -> None:
    doc = add_document(db, "a.pdf", ["the armadillo page", "the pangolin page"])
    assert [h.page_index for h in search(db, "armadillo")] == [0]

    with db.write_session() as s:
        s.execute(update(Page).where(Page.document_id == doc, Page.page_index == 0)
                  .values(markdown="the capybara page"))
    assert search(db, "armadillo") == []
    assert [h.page_index for h in search(db, "capybara")] == [0]

    with db.write_session() as s:
        s.execute(delete(Page).where(Page.document_id == doc, Page.page_index == 1))
    assert search(db, "pangolin") == []

    # deleting the document cascades to its pages, and the index forgets them too
    with db.write_session() as s:
        s.execute(delete(Document).where(Document.id == doc))
    assert search(db, "capybara") == []
    assert search(db, "page") == []


def test_image_descriptions_find_their_page(db: Database) -> None:
    doc = add_document(db, "a.pdf", ["page zero text", "page one text ![img-1-0.png](img-1-0.png)"])
    with db.write_session() as s:
        s.add(Image(document_id=doc, page_index=1, name="img-1-0.png", path="images/aa/x.png", sha256="x" * 64,
                    mime_type="image/png"))
    assert search(db, "histogram") == []

    with db.write_session() as s:  # a later vision step fills the description in
        s.execute(update(Image).where(Image.document_id == doc)
                  .values(description="A bar chart histogram of sales"))
    (hit,) = search(db, "histogram")
    assert (hit.page_index, hit.matched) == (1, "image")
    assert hit.snippet.startswith("img-1-0.png: ")
    assert f"{HIGHLIGHT_START}histogram{HIGHLIGHT_END}" in hit.snippet


def test_pages_stored_before_the_migration_are_indexed(tmp_path: Path) -> None:
    from alembic import command

    from models.migrate import alembic_config

    db = Database(f"sqlite:///{tmp_path / 'old.sqlite'}")
    cfg = alembic_config(db.engine)
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.commit()
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO documents (id, sha256, filename, size_bytes, status, options, object_path,"
                          " created_at, updated_at) VALUES (1, 'aa', 'old.pdf', 0, 'done', '{}', 'o', "
                          "'2024-01-01', '2024-01-01')"))
        conn.execute(text("INSERT INTO pages (document_id, page_index, markdown, source, created_at) "
                          "VALUES (1, 0, 'an aardvark', 'tesseract', '2024-01-01')"))
    db.migrate()
    assert [h.filename for h in search(db, "aardvark")] == ["old.pdf"]


def test_a_query_matching_very_many_pages_is_ranked_among_the_newest(db: Database,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import models.search

    monkeypatch.setattr(models.search, "RANK_CANDIDATES", 3)
    doc = add_document(db, "a.pdf", [f"{FILLER} gecko gecko"] + [f"{FILLER} gecko once"] * 4)

    hits = search(db, "gecko")

    # page 0 would rank first, but only the 3 newest matching pages are ranked
    assert sorted(h.page_index for h in hits) == [2, 3, 4]
    assert {h.document_id for h in search(db, "gecko", doc_id=doc)} == {doc}
    monkeypatch.setattr(models.search, "RANK_CANDIDATES", 5000)
    assert search(db, "gecko")[0].page_index == 0


def test_a_table_cell_finds_its_page_and_markup_does_not(db: Database) -> None:
    doc = add_document(db, "invoice.pdf", [f"{FILLER} see the table", "[tbl-1-0.html](tbl-1-0.html)"])
    other = add_document(db, "other.pdf", [f"{FILLER} nothing here"])
    with db.write_session() as s:
        for d in (doc, other):
            s.add(PageTable(document_id=d, page_index=1 if d == doc else 0, table_id="tbl-1-0.html",
                            format="html", content="<table><tr><td>Gizmo</td><td>12</td></tr></table>"
                            if d == doc else "<table><tr><td>Other</td></tr></table>",
                            text="Gizmo 12" if d == doc else "Other"))

    [hit] = search(db, "gizmo")
    assert (hit.document_id, hit.page_index, hit.matched) == (doc, 1, "table")
    assert hit.snippet.startswith("tbl-1-0.html: ") and f"{HIGHLIGHT_START}Gizmo{HIGHLIGHT_END}" in hit.snippet
    assert [h.document_id for h in search(db, "gizmo", doc_id=other)] == []
    assert search(db, "td") == []  # the HTML markup is not indexed, only the cells' text
    with db.write_session() as s:
        s.execute(delete(PageTable).where(PageTable.document_id == doc))
    assert search(db, "gizmo") == []  # the index follows deletes
