"""Subscriptions: add, list, remove, rotate a secret; the deployment's subscription from settings kept in step.

A secret is returned once, by `add` and `rotate_secret`, for the command to print; it is never shown, logged or
put in an error message afterwards. After a rotation the previous secret keeps signing beside the new one for
`keep_previous_s` (default a day), so receivers can switch without losing an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update

from models.db import Database
from models.errors import ConfigError
from models.outbox import EVENT_TYPES
from models.tables import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription

from .settings import WebhookSettings
from .sign import new_secret, valid_secret
from .target import check_url, display_url, resolve_target

__all__ = [
    "KEEP_PREVIOUS_S",
    "SubscriptionView",
    "add_subscription",
    "check_events",
    "list_subscriptions",
    "remove_subscription",
    "rotate_secret",
    "secrets_in_force",
    "sync_settings_subscription",
]

KEEP_PREVIOUS_S = 86400.0


@dataclass
class SubscriptionView:
    """What `webhooks list` shows: never the secret."""

    id: int
    url: str
    events: list[str] | None
    job_id: int | None
    collection: str | None
    source: str
    enabled: bool
    disabled_reason: str | None
    pending: int
    delivered: int
    failed: int
    rotating: bool  # a previous secret still signs beside the current one


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def check_events(events: Sequence[str] | None) -> list[str] | None:
    if not events:
        return None
    out: list[str] = []
    for e in events:
        for name in (x.strip() for x in e.split(",")):
            if not name:
                continue
            if name not in EVENT_TYPES:
                raise ConfigError(f"unknown event {name!r}; the events are: {', '.join(EVENT_TYPES)}")
            if name not in out:
                out.append(name)
    return out or None


def _last_event_id(s) -> int:  # type: ignore[no-untyped-def]
    return int(s.scalar(select(func.max(WebhookEvent.id))) or 0)


def add_subscription(db: Database, url: str, events: Sequence[str] | None = None, job_id: int | None = None,
                     collection: str | None = None, settings: WebhookSettings | None = None) -> tuple[int, str]:
    """A new subscription; returns (its id, its secret) - the only time the secret is handed out."""
    settings = settings or WebhookSettings()
    url = url.strip()
    wanted = check_events(events)
    resolve_target(url, settings.allow_private)  # a readable refusal now rather than failed deliveries later
    secret = new_secret()
    with db.write_session() as s:
        row = WebhookSubscription(url=url, secret=secret, events=wanted, job_id=job_id, collection=collection,
                                  source="cli", enabled=True, after_event_id=_last_event_id(s), created_at=_now())
        s.add(row)
        s.flush()
        return row.id, secret


def list_subscriptions(db: Database) -> list[SubscriptionView]:
    with db.read_session() as s:
        subs = s.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)).all()
        counts: dict[tuple[int, str], int] = {
            (sid, st): int(n) for sid, st, n in s.execute(
                select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
                .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status))
        }
    now = _now()
    return [SubscriptionView(
        id=x.id, url=display_url(x.url), events=x.events, job_id=x.job_id, collection=x.collection, source=x.source,
        enabled=x.enabled, disabled_reason=x.disabled_reason, pending=counts.get((x.id, DeliveryStatus.pending), 0),
        delivered=counts.get((x.id, DeliveryStatus.delivered), 0),
        failed=counts.get((x.id, DeliveryStatus.failed), 0),
        rotating=bool(x.previous_secret and (_aware(x.previous_until) or now) > now),
    ) for x in subs]


def remove_subscription(db: Database, subscription_id: int) -> None:
    """The subscription and its deliveries' rows go; events stay (other subscriptions may want them)."""
    with db.write_session() as s:
        row = s.get(WebhookSubscription, subscription_id)
        if row is None:
            raise ConfigError(f"no webhook subscription {subscription_id} (`pagemill webhooks list`)")
        if row.source == "settings":
            raise ConfigError(f"subscription {subscription_id} comes from PAGEMILL_WEBHOOK_URL: unset it instead")
        s.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id))
        s.delete(row)


def rotate_secret(db: Database, subscription_id: int, keep_previous_s: float = KEEP_PREVIOUS_S) -> str:
    """A new secret; the current one keeps signing beside it for `keep_previous_s`. Returns the new secret."""
    secret = new_secret()
    with db.write_session() as s:
        row = s.get(WebhookSubscription, subscription_id)
        if row is None:
            raise ConfigError(f"no webhook subscription {subscription_id} (`pagemill webhooks list`)")
        if row.source == "settings":
            raise ConfigError(f"subscription {subscription_id} is signed with PAGEMILL_WEBHOOK_SECRET: change it there")
        row.previous_secret, row.previous_until = row.secret, _now() + timedelta(seconds=keep_previous_s)
        row.secret = secret
    return secret


def secrets_in_force(sub: WebhookSubscription, settings: WebhookSettings, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery to `sub`: the current one, and the previous one while it is kept."""
    now = now or _now()
    if sub.source == "settings":
        return [settings.secret.get_secret_value()] if settings.secret is not None else []
    out = [sub.secret] if sub.secret else []
    until = _aware(sub.previous_until)
    if sub.previous_secret and until is not None and until > now:
        out.append(sub.previous_secret)
    return out


def sync_settings_subscription(db: Database, settings: WebhookSettings) -> int | None:
    """PAGEMILL_WEBHOOK_URL / _SECRET / _EVENTS as one subscription row (its secret stays in the environment).
    Unset: that row is disabled. Returns its id."""
    with db.read_session() as s:
        row = s.scalars(select(WebhookSubscription).where(WebhookSubscription.source == "settings")).first()
        snapshot = None if row is None else (row.url, row.events, row.enabled)
    if not settings.url:
        if snapshot is not None and snapshot[2]:
            with db.write_session() as s:
                s.execute(update(WebhookSubscription).where(WebhookSubscription.source == "settings")
                          .values(enabled=False, disabled_reason="PAGEMILL_WEBHOOK_URL is no longer set"))
        return None
    check_url(settings.url)
    if settings.secret is None or not valid_secret(settings.secret.get_secret_value()):
        raise ConfigError("PAGEMILL_WEBHOOK_SECRET: a whsec_... secret is needed beside PAGEMILL_WEBHOOK_URL "
                          "(`pagemill webhooks add` makes one; events are always signed)")
    events = check_events([settings.events] if settings.events else None)
    if snapshot == (settings.url, events, True):
        return row.id if row is not None else None
    with db.write_session() as s:
        row = s.scalars(select(WebhookSubscription).where(WebhookSubscription.source == "settings")).first()
        if row is None:
            row = WebhookSubscription(source="settings", secret=None, after_event_id=_last_event_id(s),
                                      created_at=_now())
            s.add(row)
        row.url, row.events, row.enabled, row.disabled_reason = settings.url, events, True, None
        s.flush()
        return row.id

