"""The optional parts of stored pages (tables, blocks, header/footer, links, confidence) for the exports.

`load_parts` reads a document's tables and blocks once; `ocr_page_parts` gives a page's keys of the Mistral
`OCRPageObject` shape (what the provider sent, with pagemill's names for tables and images, as in the stored
markdown), so the JSON export validates with the official SDK's models.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from models.db import Database
from models.tables import Page, PageBlock, PageTable

from .page_markdown import StoredTable

__all__ = ["PageParts", "load_parts", "ocr_page_parts"]


@dataclass
class PageParts:
    tables: dict[int, list[PageTable]] = field(default_factory=lambda: defaultdict(list))
    blocks: dict[int, list[PageBlock]] = field(default_factory=lambda: defaultdict(list))

    def stored_tables(self, page_index: int) -> list[StoredTable]:
        return [StoredTable(t.table_id, t.content) for t in self.tables.get(page_index, [])]


def load_parts(db: Database, doc_id: int) -> PageParts:
    parts = PageParts()
    with db.read_session() as s:
        for table in s.scalars(select(PageTable).where(PageTable.document_id == doc_id).order_by(PageTable.id)):
            parts.tables[table.page_index].append(table)
        for block in s.scalars(select(PageBlock).where(PageBlock.document_id == doc_id)
                               .order_by(PageBlock.page_index, PageBlock.seq)):
            parts.blocks[block.page_index].append(block)
        s.expunge_all()
    return parts


def _table(t: PageTable) -> dict[str, Any]:
    out: dict[str, Any] = {"id": t.table_id, "content": t.content, "format": t.format}
    if t.word_confidence:
        out["word_confidence_scores"] = t.word_confidence
    return out


def _block(b: PageBlock) -> dict[str, Any]:
    # the SDK's block models require the four ints: a box a local engine could not give is written as 0
    out: dict[str, Any] = {
        "type": b.type,
        "top_left_x": b.top_left_x or 0, "top_left_y": b.top_left_y or 0,
        "bottom_right_x": b.bottom_right_x or 0, "bottom_right_y": b.bottom_right_y or 0,
        "content": b.content,
    }
    if b.image_id is not None:
        out["image_id"] = b.image_id
    if b.table_id is not None:
        out["table_id"] = b.table_id
    if b.confidence_scores:
        out["confidence_scores"] = b.confidence_scores
    elif b.confidence is not None:
        out["confidence_scores"] = {"average_content_confidence_score": b.confidence}
    return out


def _confidence(p: Page) -> dict[str, Any] | None:
    # both scores are required in the SDK's model: a page with only one of them has none to give
    if p.confidence_avg is None or p.confidence_min is None:
        return None
    out: dict[str, Any] = {"average_page_confidence_score": p.confidence_avg,
                           "minimum_page_confidence_score": p.confidence_min}
    if p.word_confidence:
        out["word_confidence_scores"] = p.word_confidence
    return out


def ocr_page_parts(p: Page, parts: PageParts) -> dict[str, Any]:
    blocks = parts.blocks.get(p.page_index)
    return {
        "tables": [_table(t) for t in parts.tables.get(p.page_index, [])],
        "hyperlinks": list(p.hyperlinks or []),
        "header": p.header,
        "footer": p.footer,
        "blocks": [_block(b) for b in blocks] if blocks else None,
        "confidence_scores": _confidence(p),
    }
