"""Queries over the usage ledger (`usage` table): pages billed and estimated cost, grouped three ways.

Each billed provider response is one row (worker/ranges/persist.py writes it in the same transaction as the pages), so
sums here are what the provider charged for, retries and redeliveries included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from models.db import Database
from models.errors import ConfigError
from models.tables import Document, Usage

__all__ = ["UsageRow", "GROUPINGS", "usage_summary", "pages_by_billing"]

GROUPINGS = ("day", "model", "document", "kind", "billing")


@dataclass(frozen=True)
class UsageRow:
    group: str  # the day (YYYY-MM-DD), the model, or "<id> <filename>"
    requests: int
    pages: int
    doc_bytes: int
    cost_usd: float
    tokens: int = 0  # prompt + completion tokens of chat answers (vision, extract)


def _group_columns(by: str) -> list[Any]:
    if by == "day":
        return [func.date(Usage.created_at)]
    if by == "model":
        return [func.coalesce(Usage.model, "?")]
    if by == "document":
        return [Usage.document_id, func.coalesce(Document.filename, "(deleted)")]
    if by == "kind":  # ocr, annotation (pages at the annotated rate), vision, extract
        return [Usage.kind]
    if by == "billing":  # the rate paid: sync, batch, annotated, batch_annotated
        return [Usage.billing]
    raise ConfigError(f"unknown grouping {by!r}; choose one of {', '.join(GROUPINGS)}")


def usage_summary(
    db: Database, by: str = "day", kind: str | None = None, price_per_1000_pages: float | None = None
) -> list[UsageRow]:
    """Totals per `by`. With `price_per_1000_pages`, the cost is re-estimated from pages instead of read from
    the cost stored when each response arrived."""
    cols = _group_columns(by)
    pages = func.coalesce(func.sum(Usage.pages_processed), 0)
    cost = pages * (price_per_1000_pages / 1000) if price_per_1000_pages is not None else func.coalesce(
        func.sum(Usage.cost_usd), 0.0
    )
    tokens = func.coalesce(func.sum(func.coalesce(Usage.prompt_tokens, 0) + func.coalesce(Usage.completion_tokens, 0)), 0)
    stmt = select(*cols, func.count(), pages, func.coalesce(func.sum(Usage.doc_size_bytes), 0), cost, tokens)
    if by == "document":
        stmt = stmt.outerjoin(Document, Document.id == Usage.document_id)
    if kind:
        stmt = stmt.where(Usage.kind == kind)
    stmt = stmt.group_by(*cols).order_by(*cols)
    out: list[UsageRow] = []
    with db.read_session() as session:
        for row in session.execute(stmt):
            *keys, n, p, b, c, t = row
            group = " ".join(str(k) for k in keys if k is not None) or "-"
            out.append(UsageRow(group, int(n), int(p), int(b), float(c), int(t)))
    return out


def pages_by_billing(db: Database, kind: str | None = "ocr") -> dict[str, tuple[int, float]]:
    """Pages and cost per rate paid (sync, batch, annotated...), for the summary under every usage table."""
    stmt = select(Usage.billing, func.coalesce(func.sum(Usage.pages_processed), 0),
                  func.coalesce(func.sum(Usage.cost_usd), 0.0)).group_by(Usage.billing)
    if kind:
        stmt = stmt.where(Usage.kind == kind)
    with db.read_session() as session:
        return {str(b): (int(p), float(c)) for b, p, c in session.execute(stmt)}
