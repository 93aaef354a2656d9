"""Webhooks: the outbox of events, the subscriptions that receive them and each delivery (docs/schema.md,
docs/webhooks.md).

An event row is written in the same transaction as the change it reports (worker/webhooks/outbox.py); delivery
reads the rows afterwards (worker/webhooks/deliver.py), so a crash can neither lose an event nor announce a
change that was rolled back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

__all__ = ["DeliveryStatus", "WebhookDelivery", "WebhookEvent", "WebhookSubscription"]


class DeliveryStatus:
    pending = "pending"  # waiting for its first try or its next retry
    delivered = "delivered"  # a 2xx answer
    failed = "failed"  # retried until PAGEMILL_WEBHOOK_RETRY_FOR_S ran out, or the target is refused
    disabled = "disabled"  # the subscription was disabled (410 Gone, removed) before it was delivered

    TERMINAL = frozenset({"delivered", "failed", "disabled"})


class WebhookEvent(Base):
    """One event, written in the transaction of the change it reports. `msg_id` is the `webhook-id` header of
    every delivery (and retry) of it."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    # deliveries of one subject (e.g. `document:12`) go out in event order
    subject: Mapped[str] = mapped_column(String(80))
    document_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: events outlive deleted documents
    job_id: Mapped[int | None] = mapped_column(Integer)
    collection: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)  # deliveries created for the subscriptions
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookSubscription(Base):
    """A receiver: its URL, the events it wants (`events` NULL: all), optionally only one job's or one
    collection's. `secret` signs; `previous_secret` keeps signing beside it until `previous_until`."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)  # NULL for the settings' subscription (PAGEMILL_WEBHOOK_SECRET)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    events: Mapped[list[str] | None] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(Integer)
    collection: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="cli")  # cli | settings
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # events with an id above this one are for it (a new subscription does not receive the past)
    after_event_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Base):
    """One event to one subscription: its tries, the last answer, and when it was delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "subscription_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(80))  # the event's, for the order per document
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)  # a readable reason, at most 500 characters
    sender: Mapped[str | None] = mapped_column(String(200))  # who is sending it, until `lease_until`
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


Index("ix_webhook_events_unsent", WebhookEvent.fanned_out, WebhookEvent.id)
Index("ix_webhook_deliveries_status", WebhookDelivery.status, WebhookDelivery.next_attempt_at)
Index("ix_webhook_deliveries_subject", WebhookDelivery.subscription_id, WebhookDelivery.subject,
      WebhookDelivery.id)
