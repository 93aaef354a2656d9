"""`PagemillLoader`: pagemill's archive as LangChain documents (pip install 'pagemill[langchain]').

    from scheduler.loaders.langchain import PagemillLoader
    docs = PagemillLoader(["job:3"], mode="chunks", chunk_size=1500).load()
    docs[0].metadata["heading_path"], docs[0].metadata["pages"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from .common import Source, records

__all__ = ["PagemillLoader"]


class PagemillLoader(BaseLoader):
    """Pages or chunks of stored documents (ids, SHA-256 prefixes or job:N; none: every done or partial one).
    Metadata: document_id, filename, collection, page/pages (0-based), and for chunks heading_path, headings,
    chunk_id; `source` is the page's pagemill:// URI (the MCP server's resource)."""

    def __init__(self, documents: Sequence[str | int] | None = None, *, mode: str = "chunks",
                 chunk_size: int | None = None, chunk_overlap: int = 0, chunk_unit: str = "chars",
                 tokenizer: Callable[[str], int] | None = None, contextualize: bool = False,
                 database_url: str | None = None, data_dir: str | Path | None = None) -> None:
        self.source = Source(documents, mode, chunk_size, chunk_overlap, chunk_unit, tokenizer, database_url,
                             data_dir, contextualize)

    def lazy_load(self) -> Iterator[Document]:
        for text, metadata in records(self.source):
            yield Document(page_content=text, metadata=metadata, id=metadata.get("chunk_id")
                           or f"{metadata['document_id']}:p{metadata['page']}")
