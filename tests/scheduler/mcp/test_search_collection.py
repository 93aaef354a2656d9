"""`search(query, collection=...)` filters by collection before ranking: a collection's one weak match is found
even when more than RANK_CANDIDATES stronger, newer matches sit in other collections."""

from __future__ import annotations

from sqlalchemy import insert, update

from models.search import RANK_CANDIDATES
from models.tables import Document, Page, PageTable
from scheduler.mcp.tools import Archive
from tests.results_db import add_document, migrated_database

FILLER = " ".join(f"word{n}" for n in range(300))


def test_a_weak_match_in_a_collection_is_not_crowded_out(database_url: str) -> None:
    db = migrated_database(database_url)
    # the oldest page, and the weakest: "sprocket" once in a long page, "flange" once in a table's long text
    weak = add_document(db, "old-contract.pdf", [f"{FILLER} sprocket {FILLER}", "# Parts\n\n[t.html](t.html)"])
    with db.write_session() as s:
        s.execute(update(Document).where(Document.id == weak).values(collection="contracts"))
        s.add(PageTable(document_id=weak, page_index=1, table_id="t.html", format="html", content="<table/>",
                        text=f"{FILLER} flange {FILLER}"))
        docs = [{"sha256": f"{n:064x}", "filename": f"catalogue-{n}.pdf", "object_path": "originals/x",
                 "status": "done", "page_count": 1, "collection": "catalogues"} for n in range(RANK_CANDIDATES + 200)]
        ids = s.scalars(insert(Document).returning(Document.id), docs).all()
        s.execute(insert(Page), [{"document_id": i, "page_index": 0, "source": "tesseract",
                                  "markdown": "sprocket sprocket sprocket flange"} for i in ids])
        s.execute(insert(PageTable), [{"document_id": i, "page_index": 0, "table_id": "t.html", "format": "html",
                                       "content": "<table/>", "text": "flange flange"} for i in ids[:300]])
    archive = Archive(db)

    everywhere = archive.search("sprocket", limit=5)["hits"]
    assert weak not in {h["document_id"] for h in everywhere}  # outranked and outnumbered

    (hit,) = archive.search("sprocket", limit=5, collection="contracts")["hits"]
    assert (hit["document_id"], hit["filename"], hit["page"]) == (weak, "old-contract.pdf", 0)
    assert "<mark>sprocket</mark>" in hit["snippet"]
    (table_hit,) = archive.search("flange", limit=5, collection="contracts")["hits"]
    assert (table_hit["document_id"], table_hit["page"]) == (weak, 1)

    catalogues = archive.search("sprocket", limit=100, collection="catalogues")
    assert len(catalogues["hits"]) == 100 and catalogues["next_cursor"] == "100"
    assert weak not in {h["document_id"] for h in catalogues["hits"]}
    assert archive.search("sprocket", collection="nobody")["hits"] == []
    db.dispose()
