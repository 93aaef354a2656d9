"""Documents stored the way the pipeline stores them, without running OCR: an original in the object store, a
document row, its pages (with the engine's word boxes or a provider's blocks). For export tests that need a
known page: words in scripts the engine here has no model for, boxes outside the page, a missing original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.db import Database
from models.tables import Document, Page, PageBlock
from worker.objects.registry import object_store
from worker.settings import WorkerSettings

Word = tuple[str, int, int, int, int]  # text, x0, y0, x1, y1 in pixels of the page image, y down


def words_value(lines: list[tuple[int, list[Word]]], turned: int = 0) -> dict[str, Any]:
    """`pages.words` as the local engine stores it (worker/layout/word_boxes.py)."""
    return {"v": 1, "turned": turned, "lines": [[baseline, [[*w, 90] for w in words]] for baseline, words in lines]}


def store_document(db: Database, original: Path, mime: str, pages: list[dict[str, Any]],
                   blocks: dict[int, list[tuple[str, tuple[int, int, int, int]]]] | None = None,
                   work: Path | None = None, sha256: str | None = None) -> int:
    """A finished document whose original is `original` (its decrypted copy `work`), with `pages` (Page columns
    beyond document and index) and `blocks` per page index ((text, box in pixels) in reading order); `sha256`
    stands in for the file's own when the same file is already a document."""
    objects = object_store(WorkerSettings())
    stored = objects.put_bytes(original.read_bytes(), "originals", original.suffix.lstrip("."))
    work_path = objects.put_bytes(work.read_bytes(), "originals", "pdf").relpath if work else None
    with db.write_session() as s:
        doc = Document(sha256=sha256 or stored.sha256, filename=original.name, mime_type=mime, object_path=stored.relpath,
                       work_path=work_path, status="done", page_count=len(pages))
        s.add(doc)
        s.flush()
        for n, columns in enumerate(pages):
            s.add(Page(document_id=doc.id, page_index=n, **columns))
        for n, page_blocks in (blocks or {}).items():
            for seq, (text, box) in enumerate(page_blocks):
                s.add(PageBlock(document_id=doc.id, page_index=n, seq=seq, type="text", content=text,
                                top_left_x=box[0], top_left_y=box[1], bottom_right_x=box[2], bottom_right_y=box[3]))
        return doc.id
