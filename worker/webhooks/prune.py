"""Pruning the outbox: events older than PAGEMILL_WEBHOOK_KEEP_S whose every delivery is over are deleted.

An event is kept while any of its deliveries is pending (still being tried) or failed (visible in
`pagemill webhooks deliveries --failed` and sent again by `redeliver`); delivered ones, disabled ones and
events no subscription wanted go once they are older than the retention. Without pruning the outbox grows by a
row per document for ever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, select

from models.db import Database
from models.tables import DeliveryStatus, WebhookDelivery, WebhookEvent

from .settings import WebhookSettings

__all__ = ["prune"]

_BATCH = 1000  # events per transaction: a long write would hold SQLite's writer lock against the pipeline


def prune(db: Database, settings: WebhookSettings | None = None, now: datetime | None = None) -> int:
    """Delete the events past their retention whose deliveries are all over; returns how many."""
    settings = settings or WebhookSettings()
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=settings.keep_s)
    still_needed = exists().where(WebhookDelivery.event_id == WebhookEvent.id,
                                  WebhookDelivery.status.in_((DeliveryStatus.pending, DeliveryStatus.failed)))
    removed = 0
    while True:
        with db.write_session() as s:
            ids = list(s.scalars(select(WebhookEvent.id).where(
                WebhookEvent.fanned_out.is_(True), WebhookEvent.created_at < cutoff, ~still_needed)
                .order_by(WebhookEvent.id).limit(_BATCH)))
            if not ids:
                return removed
            # deliveries first: SQLite enforces the foreign key's ON DELETE CASCADE only with its pragma on
            s.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)))
            s.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
        removed += len(ids)
        if len(ids) < _BATCH:
            return removed
