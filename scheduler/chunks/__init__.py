"""Stored documents as retrieval chunks that follow their structure (headings, tables, lists, pages).

- `markdown.py`: pages of markdown into blocks and chunks (pure: no database); size in characters or tokens.
- `split.py`: one block too long for a chunk, split (tables by rows with their header, lists, sentences, words).
- `document.py`: a stored document's chunks with its metadata (id, filename, collection, pages), JSON lines out.

    from scheduler.chunks import ChunkOptions, document_chunks
    chunks = document_chunks(db, doc_id, ChunkOptions(max_size=512, unit="tokens", overlap=32))
"""

from .document import HEADING_SEPARATOR, Chunk, document_chunks, export_chunks, iter_chunks, stored_text
from .markdown import ChunkOptions, chunk_pages, word_tokens

__all__ = ["Chunk", "ChunkOptions", "HEADING_SEPARATOR", "chunk_pages", "document_chunks", "export_chunks",
           "iter_chunks", "stored_text", "word_tokens"]
