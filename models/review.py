"""The review queue: stored pages with a confidence score, least confident first.

    from models.review import review_queue
    for row in review_queue(db, below=0.8, limit=20):
        print(row.filename, row.page_index, row.average, row.minimum)

It reads the `review_queue` view (migration 0004), so `pagemill review`, this function and a SQL user or
Datasette see the same list. Pages without a score (the text layer, results from before scores were kept) are
not in it: nothing says they are doubtful.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from .db import Database

__all__ = ["ReviewRow", "review_queue"]


@dataclass(frozen=True)
class ReviewRow:
    document_id: int
    filename: str
    page_index: int  # 0-based
    average: float
    minimum: float | None
    source: str
    model: str | None


_QUERY = """
SELECT document_id, filename, page_index, confidence_avg, confidence_min, source, model
FROM review_queue
WHERE (:below IS NULL OR confidence_avg < :below) AND (:doc IS NULL OR document_id = :doc)
ORDER BY confidence_avg, confidence_min, document_id, page_index
LIMIT :limit
"""


def review_queue(db: Database, below: float | None = None, limit: int = 20,
                 doc_id: int | None = None) -> list[ReviewRow]:
    """Pages by ascending average confidence (then minimum), optionally only those below `below`."""
    # typed NULL checks: PostgreSQL cannot infer the type of a bare `:param IS NULL`
    sql = _QUERY if db.is_sqlite else _QUERY.replace(":below IS NULL", "CAST(:below AS float) IS NULL").replace(
        ":doc IS NULL", "CAST(:doc AS integer) IS NULL")
    with db.read_session() as s:
        rows = s.execute(text(sql), {"below": below, "doc": doc_id, "limit": max(1, int(limit))}).all()
    return [ReviewRow(r.document_id, r.filename, r.page_index, float(r.confidence_avg),
                      None if r.confidence_min is None else float(r.confidence_min), r.source, r.model)
            for r in rows]
