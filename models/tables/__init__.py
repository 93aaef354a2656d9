"""The results database's tables. Users query them directly: names here are a contract (docs/schema.md).

- `base.py`: the declarative base, the JSON column type (jsonb on PostgreSQL) and `utcnow`.
- `core.py`: documents, names, jobs, page ranges, pages and their parts (tables, blocks), images, usage, fields,
  the rate limiter's state.
- `batch.py`: Batch API jobs, the ranges each carries, the budget spent.
- `review.py`: the review page's text history, corrections and "looks right" marks.
- `webhooks.py`: the outbox of events, webhook subscriptions and deliveries.

Importing this package registers every table with `Base.metadata` (migrations and `create_all` need them all);
each name is importable from here or from its module.
"""

from __future__ import annotations

from .base import Base, JsonDocument, utcnow
from .batch import BatchJob, BatchJobRange, BatchStatus, BudgetSpend
from .core import (
    DocStatus,
    Document,
    DocumentName,
    FieldSchema,
    FieldsRow,
    FieldsStatus,
    Image,
    Job,
    JobDocument,
    Page,
    PageBlock,
    PageRange,
    PageTable,
    RangeStatus,
    RateLimitState,
    Usage,
)
from .review import PageCorrection, PageMark, PageVersion
from .webhooks import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription

__all__ = [
    "Base",
    "BatchJob",
    "BatchJobRange",
    "BatchStatus",
    "BudgetSpend",
    "DeliveryStatus",
    "DocStatus",
    "Document",
    "DocumentName",
    "FieldSchema",
    "FieldsRow",
    "FieldsStatus",
    "Image",
    "Job",
    "JobDocument",
    "JsonDocument",
    "Page",
    "PageBlock",
    "PageCorrection",
    "PageMark",
    "PageRange",
    "PageTable",
    "PageVersion",
    "RangeStatus",
    "RateLimitState",
    "Usage",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "utcnow",
]
