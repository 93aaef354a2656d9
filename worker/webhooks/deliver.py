"""Delivery: events fanned out to their subscriptions, then sent at least once, in order per subject, signed.

- `fan_out`: each new event (models/outbox.py wrote it with the change) becomes one `webhook_deliveries` row per
  subscription that wants it (its types, its job, its collection; created before the event).
- `deliver_due`: the deliveries that are due and first in line for their (subscription, subject) - a document's
  events go out in the order they were written, each waiting for the one before it to be delivered or given up,
  and a job.done waits for its documents' events -
  are leased, sent (PAGEMILL_WEBHOOK_CONCURRENCY at once across subjects, a freed slot refilled at once), and
  recorded:
  2xx delivered; 410 Gone disables the subscription; a refused target fails at once (retrying cannot help); any
  other answer, a redirect, a time-out or a connection error is retried after an exponential backoff with jitter
  (at least the receiver's Retry-After), until PAGEMILL_WEBHOOK_RETRY_FOR_S after the first try, then `failed`.
- The `webhook-id` is the event's, on every try; the timestamp and signature are made at each try (receivers
  refuse timestamps more than five minutes old).
- A lease (`sender`, `lease_until`) keeps two deliverers off one delivery; a deliverer killed mid-request leaves a
  lease that runs out, and the delivery is sent again: at least once, never lost.

Nothing here runs in the request path of a change: the scheduler's `Deliverer` thread, the sweep and the end of
an embedded run call it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, Select, and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.orm import aliased

from models.db import Database
from models.tables import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription

from .prune import prune
from .sender import HttpSender, Sender, SendResult
from .settings import WebhookSettings
from .sign import signed_headers
from .subscriptions import secrets_in_force, sync_settings_subscription

__all__ = ["Deliverer", "DeliveryReport", "backoff_s", "body_bytes", "deliver_due", "drain", "fan_out", "redeliver"]

log = logging.getLogger("pagemill.webhooks")

_FAN_OUT_BATCH = 500
# a lease covers one request (connect + read time-outs) and this much more for the claim and the recording; each
# round claims only as many deliveries as it sends at once, so none waits leased behind another's request
_LEASE_MARGIN_S = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


@dataclass
class DeliveryReport:
    fanned_out: int = 0
    sent: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        for name in ("fanned_out", "sent", "delivered", "retried", "failed", "disabled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def body_bytes(payload: dict) -> bytes:  # type: ignore[type-arg]
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _wants(sub: WebhookSubscription, ev: WebhookEvent) -> bool:
    if ev.id <= sub.after_event_id:
        return False
    if sub.events and ev.type not in sub.events:
        return False
    if sub.job_id is not None and ev.job_id != sub.job_id:
        return False
    return sub.collection is None or ev.collection == sub.collection


def fan_out(db: Database) -> int:
    """Deliveries for the events not yet fanned out; returns how many deliveries were created."""
    with db.read_session() as s:
        if not s.scalar(select(exists().where(WebhookEvent.fanned_out.is_(False)))):
            return 0
    with db.write_session() as s:
        events = s.scalars(select(WebhookEvent).where(WebhookEvent.fanned_out.is_(False))
                           .order_by(WebhookEvent.id).limit(_FAN_OUT_BATCH)).all()
        subs = s.scalars(select(WebhookSubscription).where(WebhookSubscription.enabled.is_(True))).all()
        now = _now()
        rows = [{"event_id": ev.id, "subscription_id": sub.id, "subject": ev.subject,
                 "status": DeliveryStatus.pending, "attempts": 0, "next_attempt_at": now, "created_at": now}
                for ev in events for sub in subs if _wants(sub, ev)]
        if rows:  # Core statements: the ORM's unit of work cost more per delivery than the rest of its sending
            s.execute(insert(WebhookDelivery), rows)
        s.execute(update(WebhookEvent).where(WebhookEvent.id.in_([ev.id for ev in events]))
                  .values(fanned_out=True))
    return len(rows)


def backoff_s(attempts: int, settings: WebhookSettings, retry_after_s: float | None = None,
              rand: Callable[[], float] = random.random) -> float:
    """The wait after the `attempts`-th failed try: base * 2^(attempts-1), capped, with jitter (half to all of
    it), and never shorter than the receiver's Retry-After."""
    delay = min(settings.retry_max_s, settings.retry_base_s * (2 ** max(0, attempts - 1)))
    delay *= 0.5 + 0.5 * rand()
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:200]


@functools.cache
def _due_query() -> Select[tuple[int]]:
    """The deliveries due and first in line, built once: building it (aliases, their column proxies) cost more
    CPU than running it, at every claim."""
    d, e, e2 = WebhookDelivery, aliased(WebhookDelivery), aliased(WebhookDelivery)
    ev, ev2 = aliased(WebhookEvent), aliased(WebhookEvent)
    now = bindparam("now", type_=d.next_attempt_at.type)
    earlier = exists().where(e.subscription_id == d.subscription_id, e.subject == d.subject, e.id < d.id,
                             e.status == DeliveryStatus.pending)
    # job.done also waits for the events of its job's documents written before it
    earlier_of_job = exists().where(e2.subscription_id == d.subscription_id, e2.id < d.id,
                                    e2.status == DeliveryStatus.pending, e2.event_id == ev2.id,
                                    ev2.job_id == ev.job_id)
    return (select(d.id).join(ev, ev.id == d.event_id)
            .where(d.status == DeliveryStatus.pending, d.next_attempt_at <= now,
                   or_(d.lease_until.is_(None), d.lease_until < now), ~earlier,
                   or_(ev.type != "job.done", ~earlier_of_job))
            # in the order of the (status, next_attempt_at) index, which ends with the row id: read in index order
            # and stopped at the limit (ORDER BY id alone sorted every pending delivery at each claim). The order
            # per document comes from `earlier`, not from this order.
            .order_by(d.next_attempt_at, d.id).limit(bindparam("limit", type_=Integer)))


def _claim(db: Database, settings: WebhookSettings, limit: int) -> list[int]:
    """Lease the due deliveries that are first in line for their (subscription, subject)."""
    d = WebhookDelivery
    now = _now()
    with db.read_session() as s:
        candidates = list(s.scalars(_due_query(), {"now": now, "limit": limit}))
    if not candidates:
        return []
    lease = now + timedelta(seconds=settings.connect_timeout_s + settings.timeout_s + _LEASE_MARGIN_S)
    me = _me()
    with db.write_session() as s:  # one statement; RETURNING says which ones no other deliverer took meanwhile
        return sorted(s.scalars(update(d).where(d.id.in_(candidates), d.status == DeliveryStatus.pending,
                                                or_(d.lease_until.is_(None), d.lease_until < now))
                                .values(sender=me, lease_until=lease).returning(d.id)))


@dataclass
class _Outcome:
    """One try's result and the delivery's next state, recorded with others in one transaction (`_record`)."""

    delivery_id: int
    subscription_id: int
    values: dict[str, object]
    disable_reason: str | None
    report: DeliveryReport


def _attempt(db: Database, settings: WebhookSettings, sender: Sender, delivery_id: int) -> _Outcome | None:
    """Send one leased delivery and decide its next state; nothing is written here."""
    report = DeliveryReport()
    with db.read_session() as s:
        row = s.execute(select(WebhookDelivery, WebhookEvent, WebhookSubscription)
                        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                        .where(WebhookDelivery.id == delivery_id)).one_or_none()
    if row is None:
        return None
    delivery, event, sub = row
    now = _now()
    secrets = secrets_in_force(sub, settings, now)
    if not sub.enabled:
        result = SendResult(error=f"the subscription is disabled: {sub.disabled_reason or 'removed'}")
    elif not secrets:
        result = SendResult(error="no secret to sign with (PAGEMILL_WEBHOOK_SECRET is unset)", refused=True)
    else:
        body = body_bytes(event.payload)
        result = sender.send(sub.url, signed_headers(event.msg_id, body, secrets, now), body)
        report.sent += 1
    first = _aware(delivery.first_attempt_at) or now
    attempts = delivery.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "first_attempt_at": first, "last_attempt_at": now,
                                 "last_status_code": result.status_code, "sender": None, "lease_until": None,
                                 "last_error": (result.error or None) and result.error[:500]}
    disable_reason: str | None = None
    if result.delivered:
        values.update(status=DeliveryStatus.delivered, delivered_at=_now(), last_error=None)
        report.delivered += 1
    elif not sub.enabled:
        values.update(status=DeliveryStatus.disabled)
        report.disabled += 1
    elif result.status_code == 410:
        disable_reason = f"the receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC"
        values.update(status=DeliveryStatus.disabled)
        report.disabled += 1
    elif result.refused:
        values.update(status=DeliveryStatus.failed)
        report.failed += 1
    else:
        deadline = first + timedelta(seconds=settings.retry_for_s)
        wait = backoff_s(attempts, settings, result.retry_after_s)
        if now >= deadline:
            values.update(status=DeliveryStatus.failed)
            values["last_error"] = (f"gave up after {attempts} tries over {settings.retry_for_s:g} s: "
                                    f"{result.error or 'no answer'}")[:500]
            report.failed += 1
        else:
            values["next_attempt_at"] = min(now + timedelta(seconds=wait), deadline)
            report.retried += 1
    if result.error and not result.delivered:
        report.errors.append(result.error)
    return _Outcome(delivery_id, sub.id, values, disable_reason, report)


def _record(db: Database, outcomes: list[_Outcome | None]) -> DeliveryReport:
    """The outcomes of several tries in one transaction (on SQLite each write transaction takes the writer lock;
    one per try cost more than the tries). A deliverer killed before this commit leaves leases that run out:
    those deliveries are sent again with their webhook-id, at least once."""
    report = DeliveryReport()
    done = [o for o in outcomes if o is not None]
    if not done:
        return report
    # the subscriptions' rows first: two senders disabling one at once then queue on it, instead of each
    # holding its own delivery and waiting for the other's (a deadlock on PostgreSQL)
    disabling = {o.subscription_id: o.disable_reason for o in done if o.disable_reason is not None}
    with db.write_session() as s:
        for sub_id, reason in sorted(disabling.items()):
            s.execute(update(WebhookSubscription).where(WebhookSubscription.id == sub_id)
                      .values(enabled=False, disabled_reason=reason))
        for o in sorted(done, key=lambda o: o.delivery_id):
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id == o.delivery_id).values(**o.values))
            report.add(o.report)
        for sub_id, reason in sorted(disabling.items()):
            s.execute(update(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id,
                                                    WebhookDelivery.status == DeliveryStatus.pending)
                      .values(status=DeliveryStatus.disabled, last_error=reason))
    for sub_id, reason in disabling.items():
        log.warning("webhook subscription %d disabled: %s", sub_id, reason)
    return report


def deliver_due(db: Database, settings: WebhookSettings | None = None, sender: Sender | None = None,
                max_s: float = 5.0) -> DeliveryReport:
    """Fan out new events and send what is due, for up to about `max_s` seconds."""
    settings = settings or WebhookSettings()
    own: Sender | None = None
    report = DeliveryReport()
    start = time.monotonic()
    sync_settings_subscription(db, settings)
    report.fanned_out += fan_out(db)
    claimed = _claim(db, settings, settings.concurrency)
    if not claimed:
        return report
    if sender is None:
        sender = own = HttpSender(settings)
    try:
        with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="pagemill-webhook") as pool:
            # a slot freed is refilled at once (a slow receiver holds up its own documents, not a whole round);
            # claims are made for half the slots at a time (a claim costs a read and a write transaction)
            refill = max(1, settings.concurrency // 2)
            inflight = {pool.submit(_attempt, db, settings, sender, did) for did in claimed}
            outcomes: list[_Outcome | None] = []
            while inflight:
                done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                outcomes.extend(f.result() for f in done)
                if inflight and settings.concurrency - len(inflight) < refill:
                    continue  # recorded with the next ones (still leased meanwhile)
                report.add(_record(db, outcomes))
                outcomes = []
                if time.monotonic() - start >= max_s:
                    continue  # past max_s: the requests under way end, nothing more is claimed
                report.fanned_out += fan_out(db)
                free = settings.concurrency - len(inflight)
                inflight |= {pool.submit(_attempt, db, settings, sender, did) for did in _claim(db, settings, free)}
    finally:
        if own is not None:
            own.close()
    return report


def has_work(db: Database) -> bool:
    """Events not fanned out yet, or deliveries pending (one cheap read: `run` asks it at its end)."""
    settings = WebhookSettings()
    with db.read_session() as s:
        return bool(settings.url or s.scalar(select(or_(
            exists().where(WebhookEvent.fanned_out.is_(False), exists().where(WebhookSubscription.enabled.is_(True))),
            exists().where(WebhookDelivery.status == DeliveryStatus.pending)))))


def _next_due_in(db: Database) -> float | None:
    with db.read_session() as s:
        nxt = s.scalar(select(WebhookDelivery.next_attempt_at).where(WebhookDelivery.status == DeliveryStatus.pending)
                       .order_by(WebhookDelivery.next_attempt_at).limit(1))
        unsent = s.scalar(select(exists().where(WebhookEvent.fanned_out.is_(False))))
    if unsent:
        return 0.0
    if nxt is None:
        return None
    return max(0.0, ((_aware(nxt) or _now()) - _now()).total_seconds())


def drain(db: Database, timeout_s: float = 10.0, settings: WebhookSettings | None = None,
          sender: Sender | None = None) -> DeliveryReport:
    """Deliver until nothing is pending or `timeout_s` is over (the end of an embedded run); what is left waits
    for the scheduler or the next run."""
    settings = settings or WebhookSettings()
    report = DeliveryReport()
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        report.add(deliver_due(db, settings, sender, max_s=left))
        wait = _next_due_in(db)
        if wait is None or wait > deadline - time.monotonic():
            break
        time.sleep(min(wait, 1.0) + 0.01)
    return report


def redeliver(db: Database, delivery_id: int | None = None, failed: bool = False) -> int:
    """Send again: one delivery (whatever its status), or every failed one. Their retry time starts anew; the
    `webhook-id` stays the event's. Returns how many."""
    d = WebhookDelivery
    cond = d.id == delivery_id if delivery_id is not None else d.status == DeliveryStatus.failed
    if delivery_id is None and not failed:
        return 0
    with db.write_session() as s:
        enabled = select(WebhookSubscription.id).where(WebhookSubscription.enabled.is_(True))
        n = s.execute(update(d).where(and_(cond, d.subscription_id.in_(enabled)))
                      .values(status=DeliveryStatus.pending, next_attempt_at=_now(), first_attempt_at=None,
                              sender=None, lease_until=None)).rowcount
    return int(n or 0)


class Deliverer(threading.Thread):
    """Delivers webhooks every `poll_s` until `stop()`: started by `pagemill scheduler` and embedded runs."""

    def __init__(self, db: Database, settings: WebhookSettings | None = None, sender: Sender | None = None) -> None:
        super().__init__(name="pagemill-webhooks", daemon=True)
        self.db, self.settings = db, settings or WebhookSettings()
        self.sender = sender
        self._stop_event = threading.Event()

    PRUNE_EVERY_S = 600.0  # the outbox is pruned this often (and when the thread starts)

    def run(self) -> None:
        sender = self.sender or HttpSender(self.settings)
        pruned_at = -self.PRUNE_EVERY_S
        try:
            while not self._stop_event.is_set():
                try:
                    deliver_due(self.db, self.settings, sender, max_s=self.settings.poll_s * 5)
                    if time.monotonic() - pruned_at >= self.PRUNE_EVERY_S:
                        pruned_at = time.monotonic()
                        prune(self.db, self.settings)
                except Exception as exc:
                    log.warning("webhook delivery failed: %s: %s", type(exc).__name__, exc)
                self._stop_event.wait(self.settings.poll_s)
        finally:
            if self.sender is None:
                sender.close()

    def stop(self, timeout_s: float | None = None) -> None:
        self._stop_event.set()
        if timeout_s is not None and self.is_alive():
            self.join(timeout_s)
