"""The LangChain loader and the LlamaIndex reader: pages and chunks with their metadata, on the embedded
database and on PostgreSQL."""

from __future__ import annotations

import pytest

from models.corrections import save_correction
from models.db import Database
from models.tables import Document
from tests.results_db import add_document, migrated_database

PAGES = ["# Contract\n\n## 1. Parties\n\nAcme and Globex agree as follows.",
         "## 2. Payment\n\n| Due | Amount |\n|---|---|\n| March | 1200 |\n\nLate payment costs interest."]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    url = Database.from_settings().url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = migrated_database(url)
    doc = add_document(db, "contract.pdf", PAGES)
    add_document(db, "other.pdf", ["# Other\n\nNothing here."])
    with db.write_session() as s:
        s.get(Document, doc).collection = "legal"
    save_correction(db, doc, 0, PAGES[0].replace("Globex", "Globex Corporation"), "ana")
    db.dispose()
    return url


def test_langchain_loader(url: str) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document as LcDocument

    from scheduler.loaders.langchain import PagemillLoader

    chunks = list(PagemillLoader(["1"], database_url=url, chunk_size=200).lazy_load())
    assert all(isinstance(d, LcDocument) for d in chunks)
    assert [d.metadata["heading_path"] for d in chunks] == ["Contract > 1. Parties", "Contract > 2. Payment"]
    assert [d.metadata["pages"] for d in chunks] == [[0], [1]]
    assert "Globex Corporation" in chunks[0].page_content  # the correction
    assert "| March | 1200 |" in chunks[1].page_content
    assert {d.metadata["filename"] for d in chunks} == {"contract.pdf"}
    assert {d.metadata["collection"] for d in chunks} == {"legal"}
    assert chunks[1].metadata["source"] == "pagemill://documents/1/pages/1"

    pages = PagemillLoader(database_url=url, mode="pages").load()  # every done document
    assert [(d.metadata["document_id"], d.metadata["page"]) for d in pages] == [(1, 0), (1, 1), (2, 0)]
    contextual = PagemillLoader(["1"], database_url=url, contextualize=True).load()
    assert all(d.page_content.startswith("#") or "Contract >" in d.page_content for d in contextual)


def test_llamaindex_reader(url: str) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import Document as LiDocument
    from llama_index.core.schema import MetadataMode

    from scheduler.loaders.llamaindex import PagemillReader

    docs = PagemillReader(database_url=url, chunk_size=200).load_data(["1"])
    assert all(isinstance(d, LiDocument) for d in docs)
    assert [d.metadata["heading_path"] for d in docs] == ["Contract > 1. Parties", "Contract > 2. Payment"]
    assert docs[0].id_ == "pagemill:1:0"
    embedded = docs[0].get_content(MetadataMode.EMBED)
    assert "heading_path: Contract > 1. Parties" in embedded and "prefix:" not in embedded
    pages = PagemillReader(database_url=url, mode="pages").load_data()
    assert len(pages) == 3 and pages[1].metadata["page"] == 1
