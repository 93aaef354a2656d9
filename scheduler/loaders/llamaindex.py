"""`PagemillReader`: pagemill's archive as LlamaIndex documents (pip install 'pagemill[llamaindex]').

    from scheduler.loaders.llamaindex import PagemillReader
    docs = PagemillReader(mode="pages").load_data(["12", "job:3"])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document

from .common import Source, records

__all__ = ["PagemillReader"]


class PagemillReader(BaseReader):
    """Pages or chunks of stored documents with the same metadata as the LangChain loader; the metadata that
    only places a chunk (offsets) is kept out of the text an embedding model sees."""

    def __init__(self, *, mode: str = "chunks", chunk_size: int | None = None, chunk_overlap: int = 0,
                 chunk_unit: str = "chars", tokenizer: Callable[[str], int] | None = None,
                 database_url: str | None = None, data_dir: str | Path | None = None) -> None:
        self.options: dict[str, Any] = {"mode": mode, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap,
                                        "chunk_unit": chunk_unit, "tokenizer": tokenizer,
                                        "database_url": database_url, "data_dir": data_dir}

    def lazy_load_data(self, documents: Sequence[str | int] | None = None, **_: Any) -> Iterable[Document]:
        hidden = ["start", "end", "prefix", "suffix", "size", "unit", "kinds", "seq", "headings", "pages"]
        for text, metadata in records(Source(documents, **self.options)):
            doc_id = metadata.get("chunk_id") or f"{metadata['document_id']}:p{metadata['page']}"
            yield Document(text=text, id_=f"pagemill:{doc_id}", metadata=metadata,
                           excluded_embed_metadata_keys=[k for k in hidden if k in metadata],
                           excluded_llm_metadata_keys=[k for k in hidden if k in metadata])

    def load_data(self, documents: Sequence[str | int] | None = None, **kwargs: Any) -> list[Document]:
        return list(self.lazy_load_data(documents, **kwargs))
