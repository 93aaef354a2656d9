"""The deployment's subscription from settings, a deliverer that dies mid-request, and secrets kept out of logs
and errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from models.db import Database
from models.errors import ConfigError
from models.tables import WebhookDelivery, WebhookSubscription
from worker.webhooks.deliver import _claim, drain, fan_out
from worker.webhooks.sign import new_secret
from worker.webhooks.subscriptions import add_subscription

from .helpers import document_with_ranges, fast_settings, finish_range
from .receiver import receiver


def test_the_settings_subscription_signs_with_the_environments_secret(both_databases: Database) -> None:
    db = both_databases
    secret = new_secret()
    with receiver([secret]) as rec:
        settings = fast_settings(url=rec.url, secret=secret, events="document.done")
        drain(db, 1, settings)  # creates the subscription before the events
        doc, ids = document_with_ranges(db, "a.pdf", 1, job_id=1)
        finish_range(db, doc, ids[0])
        drain(db, 10, settings)
        assert [(a.type, a.verified) for a in rec.arrivals] == [("document.done", True)]  # not job.done
        with db.read_session() as s:
            sub = s.scalars(select(WebhookSubscription)).one()
        assert sub.source == "settings" and sub.secret is None  # the secret stays in the environment
        drain(db, 1, fast_settings())  # PAGEMILL_WEBHOOK_URL unset: that subscription stops
        with db.read_session() as s:
            assert not s.scalars(select(WebhookSubscription)).one().enabled
    with pytest.raises(ConfigError, match="PAGEMILL_WEBHOOK_SECRET"):
        drain(db, 1, fast_settings(url="http://127.0.0.1:9/x"))


def test_a_delivery_whose_sender_died_is_sent_again_with_its_id(both_databases: Database) -> None:
    db = both_databases
    settings = fast_settings()
    with receiver() as rec:
        _sid, secret = add_subscription(db, rec.url, settings=settings)
        rec.secrets.append(secret)
        doc, ids = document_with_ranges(db, "a.pdf", 1)
        finish_range(db, doc, ids[0])
        fan_out(db)
        (taken,) = _claim(db, settings, 10)  # a sender took it, then was killed -9 before recording anything
        assert _claim(db, settings, 10) == []  # leased: nobody else sends it meanwhile
        with db.write_session() as s:  # its lease runs out
            s.execute(update(WebhookDelivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
        drain(db, 10, settings)
        assert len(rec.delivered()) == 1
        with db.read_session() as s:
            row = s.get_one(WebhookDelivery, taken)
        assert row.status == "delivered" and row.sender is None


def test_secrets_never_reach_logs_or_errors(both_databases: Database, caplog: pytest.LogCaptureFixture) -> None:
    db = both_databases
    caplog.set_level(logging.DEBUG)
    with receiver() as rec:
        rec.behave = lambda n, msg: (500, {}, 0.0)
        _sid, secret = add_subscription(db, rec.url, settings=fast_settings())
        rec.secrets.append(secret)
        doc, ids = document_with_ranges(db, "a.pdf", 1)
        finish_range(db, doc, ids[0])
        drain(db, 2, fast_settings(retry_for_s=0.3))
    with db.read_session() as s:
        errors = [d.last_error or "" for d in s.scalars(select(WebhookDelivery))]
    raw = secret.removeprefix("whsec_")
    assert errors and all(raw not in e for e in errors)
    assert raw not in caplog.text
