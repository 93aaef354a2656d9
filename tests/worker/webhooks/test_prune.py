"""Pruning: delivered events go after the retention; pending and failed ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from models.db import Database
from models.tables import DeliveryStatus, WebhookDelivery, WebhookEvent
from worker.webhooks.deliver import fan_out
from worker.webhooks.prune import prune

from .helpers import document_with_ranges, events, fast_settings, finish_range, subscribe


def test_only_events_whose_deliveries_are_over_are_pruned_after_the_retention(both_databases: Database) -> None:
    db = both_databases
    subscribe(db)
    docs = [document_with_ranges(db, f"{n}.pdf", 1) for n in ("delivered", "failed", "pending")]
    for doc, (rid,) in docs:
        finish_range(db, doc, rid)
    assert fan_out(db) == 3
    statuses = [DeliveryStatus.delivered, DeliveryStatus.failed, DeliveryStatus.pending]
    with db.write_session() as s:
        for ev, status in zip(s.scalars(select(WebhookEvent).order_by(WebhookEvent.id)), statuses):
            s.execute(update(WebhookDelivery).where(WebhookDelivery.event_id == ev.id).values(status=status))
    settings = fast_settings(keep_s=3600.0)
    assert prune(db, settings) == 0  # all younger than the retention
    assert prune(db, settings, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    left = events(db)
    assert [e.payload["data"]["filename"] for e in left] == ["failed.pdf", "pending.pdf"]
    with db.read_session() as s:
        assert sorted(s.scalars(select(WebhookDelivery.status))) == ["failed", "pending"]
