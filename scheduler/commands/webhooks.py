"""`pagemill webhooks ...`: subscriptions, deliveries and redelivery of signed events (docs/webhooks.md).

A secret is printed once, by `add` and `rotate-secret`; nothing prints, logs or reports it afterwards."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import cli_errors, console, safe

__all__ = ["register"]

webhooks_app = typer.Typer(
    name="webhooks", help="Signed webhooks (Standard Webhooks): subscriptions, deliveries, redelivery.",
    no_args_is_help=True, rich_markup_mode=None,
)


def _db():  # type: ignore[no-untyped-def]
    from models.db import Database

    db = Database.from_settings()
    db.migrate()
    return db


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where events are POSTed (http or https).")],
    event: Annotated[list[str] | None, typer.Option("--event", "-e", help="An event type (repeat, or commas); "
                                                    "default: every event.", show_default=False)] = None,
    job: Annotated[int | None, typer.Option("--job", help="Only this job's events.", show_default=False)] = None,
    collection: Annotated[str | None, typer.Option("--collection", help="Only this collection's events.",
                                                   show_default=False)] = None,
) -> None:
    """Subscribe URL to events; prints its signing secret, once."""
    from worker.webhooks.subscriptions import add_subscription

    with cli_errors():
        db = _db()
        sid, secret = add_subscription(db, url, event, job, collection)
        console.print(f"subscription {sid}: {safe(url, 200)}")
        typer.echo(f"secret (shown this once; keep it to verify signatures): {secret}")


@webhooks_app.command("list")
def list_() -> None:
    """The subscriptions, with their deliveries pending, delivered and failed (never their secrets)."""
    from worker.webhooks.subscriptions import list_subscriptions

    with cli_errors():
        subs = list_subscriptions(_db())
        if not subs:
            console.print("no webhook subscriptions (`pagemill webhooks add URL`)")
        for x in subs:
            state = "enabled" if x.enabled else f"disabled: {safe(x.disabled_reason, 200)}"
            only = ", ".join(p for p in (f"job {x.job_id}" if x.job_id is not None else "",
                                         f"collection {safe(x.collection)}" if x.collection else "") if p)
            console.print(f"{x.id}  {safe(x.url, 200)}  ({state})  events: {', '.join(x.events or ['all'])}"
                          f"{'  only ' + only if only else ''}  ({x.source})  pending {x.pending}, delivered "
                          f"{x.delivered}, failed {x.failed}{'  (previous secret still signs)' if x.rotating else ''}",
                          soft_wrap=True)


@webhooks_app.command("remove")
def remove(subscription: Annotated[int, typer.Argument(help="A subscription id (`webhooks list`).")]) -> None:
    """Remove a subscription and its deliveries."""
    from worker.webhooks.subscriptions import remove_subscription

    with cli_errors():
        remove_subscription(_db(), subscription)
        console.print(f"subscription {subscription} removed")


@webhooks_app.command("rotate-secret")
def rotate(
    subscription: Annotated[int, typer.Argument(help="A subscription id (`webhooks list`).")],
    keep_hours: Annotated[float, typer.Option("--keep-hours", min=0, help="How long the old secret keeps signing "
                                              "beside the new one.")] = 24.0,
) -> None:
    """A new signing secret, printed once; the old one signs beside it for --keep-hours."""
    from worker.webhooks.subscriptions import rotate_secret

    with cli_errors():
        secret = rotate_secret(_db(), subscription, keep_hours * 3600)
        typer.echo(f"subscription {subscription}: new secret (shown this once): {secret}")
        console.print(f"the previous secret keeps signing beside it for {keep_hours:g} h")


@webhooks_app.command("test")
def test(url: Annotated[str, typer.Argument(help="The receiver to ping.")]) -> None:
    """Send one signed `webhook.test` event to URL now (signed with its subscription's secret when URL has one)."""
    from sqlalchemy import select

    from models.outbox import new_msg_id, ping_event
    from models.tables import WebhookSubscription
    from worker.webhooks.deliver import body_bytes
    from worker.webhooks.sender import HttpSender
    from worker.webhooks.settings import WebhookSettings
    from worker.webhooks.sign import new_secret, signed_headers
    from worker.webhooks.subscriptions import secrets_in_force

    with cli_errors():
        settings = WebhookSettings()
        db = _db()
        with db.read_session() as s:
            sub = s.scalars(select(WebhookSubscription).where(WebhookSubscription.url == url)
                            .order_by(WebhookSubscription.id.desc())).first()
        secrets = secrets_in_force(sub, settings) if sub is not None else []
        note = f"signed with subscription {sub.id}'s secret" if sub is not None and secrets else ""
        if not secrets:
            secrets = [new_secret()]
            note = f"no subscription has this URL: signed with a one-off secret {secrets[0]}"
        body = body_bytes(ping_event(url))
        sender = HttpSender(settings)
        try:
            result = sender.send(url, signed_headers(new_msg_id(), body, secrets), body)
        finally:
            sender.close()
        if result.delivered:
            console.print(f"delivered: HTTP {result.status_code} ({note})")
            return
        console.print(f"[red]not delivered[/red]: {safe(result.error or 'no answer', 300)} ({note})")
        raise typer.Exit(1)


@webhooks_app.command("deliveries")
def deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="Only the deliveries that were given up.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """Deliveries with their status, tries and last answer."""
    from sqlalchemy import select

    from models.tables import DeliveryStatus, WebhookDelivery, WebhookEvent

    with cli_errors():
        db = _db()
        q = (select(WebhookDelivery, WebhookEvent.type, WebhookEvent.msg_id, WebhookEvent.subject)
             .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
             .order_by(WebhookDelivery.id.desc()).limit(limit))
        if failed:
            q = q.where(WebhookDelivery.status == DeliveryStatus.failed)
        with db.read_session() as s:
            rows = s.execute(q).all()
        if not rows:
            console.print("no failed deliveries" if failed else "no deliveries")
        for d, type_, msg_id, subject in rows:
            answer = f"HTTP {d.last_status_code}" if d.last_status_code else ""
            err = f"  {safe(d.last_error, 200)}" if d.last_error and d.status != DeliveryStatus.delivered else ""
            console.print(f"{d.id}  {type_}  {subject}  subscription {d.subscription_id}  {d.status}  "
                          f"tries {d.attempts}  {answer}  {msg_id}{err}", soft_wrap=True)


@webhooks_app.command("redeliver")
def redeliver_(
    delivery: Annotated[int | None, typer.Argument(help="A delivery id (`webhooks deliveries`).",
                                                   show_default=False)] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed delivery.")] = False,
) -> None:
    """Send a delivery (or every failed one) again, with the same webhook-id; the scheduler or the next run sends it
    (`pagemill webhooks deliver` sends now)."""
    from models.errors import ConfigError
    from worker.webhooks.deliver import redeliver

    with cli_errors():
        if (delivery is None) == (not failed):
            raise ConfigError("give a delivery id or --failed")
        n = redeliver(_db(), delivery, failed)
        if delivery is not None and not n:
            raise ConfigError(f"no delivery {delivery} of an enabled subscription (`pagemill webhooks deliveries`)")
        console.print(f"{n} deliver{'y' if n == 1 else 'ies'} queued again")


@webhooks_app.command("deliver")
def deliver(
    wait: Annotated[float, typer.Option("--wait", min=0, help="Seconds to keep retrying what is due.")] = 10.0,
    follow: Annotated[bool, typer.Option("--follow", help="Keep delivering until stopped (SIGTERM or Ctrl-C), "
                                         "as the scheduler does.")] = False,
) -> None:
    """Send the pending deliveries now (the scheduler does this continuously)."""
    from worker.webhooks.deliver import drain

    with cli_errors():
        if follow:
            _follow()
            return
        r = drain(_db(), wait)
        console.print(f"{r.delivered} delivered, {r.retried} to retry, {r.failed} failed, {r.disabled} disabled")


def _follow() -> None:
    """A Deliverer until SIGTERM/SIGINT: what `pagemill run` starts beside its workers (scheduler/launch/
    webhooks.py); it ends with that run, even after a kill -9 of it."""
    import signal
    import threading

    from worker.webhooks.deliver import Deliverer

    from ._worker_process import exit_with_parent

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    exit_with_parent()
    deliverer = Deliverer(_db())
    deliverer.start()
    try:
        while not stop.wait(0.5) and deliverer.is_alive():
            pass
    finally:
        deliverer.stop(30)  # requests under way finish (a killed one is sent again after its lease)


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks_app)
