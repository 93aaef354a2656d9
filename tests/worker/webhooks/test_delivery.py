"""Delivery to receivers on 127.0.0.1 that verify every signature with the `standardwebhooks` library: receivers
answering 500, 429 with Retry-After, 410, hanging and redirecting; every event arrives at least once with one
webhook-id per event, in order per document."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from models.db import Database
from models.errors import ConfigError
from models.tables import WebhookDelivery, WebhookEvent, WebhookSubscription
from worker.webhooks.deliver import backoff_s, body_bytes, deliver_due, drain, redeliver
from worker.webhooks.subscriptions import add_subscription, rotate_secret
from worker.webhooks.target import TargetRefused, resolve_target

from .helpers import document_with_ranges, events, fast_settings, finish_range
from .receiver import Receiver, receiver


def _subscribe(db: Database, rec: Receiver, **kw: object) -> int:
    sid, secret = add_subscription(db, rec.url, settings=fast_settings(), **kw)  # type: ignore[arg-type]
    assert secret.startswith("whsec_")
    rec.secrets.append(secret)
    return sid


def _documents(db: Database, n: int = 3, ranges: int = 2) -> list[int]:
    """n documents of one job, finished range by range, interleaved: 1 event per document + job.done."""
    docs = [document_with_ranges(db, f"d{i}.pdf", ranges, job_id=1) for i in range(n)]
    for r in range(ranges):
        for doc, ids in docs:
            finish_range(db, doc, ids[r], ok=(r == 0 or doc % 2 == 0))
    return [d for d, _ in docs]


def _statuses(db: Database) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    with db.read_session() as s:
        for st in s.scalars(select(WebhookDelivery.status)):
            out[st] += 1
    return dict(out)


def _check_arrivals(db: Database, rec: Receiver) -> None:
    """Every event arrived (2xx) at least once, each with its own webhook-id, verified, in order per subject."""
    evs = events(db)
    assert all(a.verified for a in rec.arrivals), "a request whose signature standardwebhooks refused"
    delivered = rec.delivered_ids()
    assert set(delivered) == {e.msg_id for e in evs}
    by_msg = {e.msg_id: e for e in evs}
    assert len({by_msg[m].id for m in delivered}) == len(evs)  # one webhook-id per event
    first: dict[str, list[int]] = defaultdict(list)
    for a in rec.arrivals:  # every try, not only the answered ones: a later event never overtakes
        first[by_msg[a.msg_id].subject].append(by_msg[a.msg_id].id)
    for subject, ids in first.items():
        assert ids == sorted(ids), f"out of order for {subject}: {ids}"
    # a job.done is first tried once every earlier event of its job was delivered
    for i, a in enumerate(rec.arrivals):
        if a.type == "job.done":
            job_events = {e.msg_id for e in evs if e.job_id == a.data["id"] and e.id < by_msg[a.msg_id].id}
            assert job_events <= {x.msg_id for x in rec.arrivals[:i] if 200 <= x.answered < 300}


def test_every_event_arrives_signed_once_in_order(both_databases: Database) -> None:
    db = both_databases
    with receiver() as rec:
        _subscribe(db, rec)
        _documents(db)
        report = drain(db, 20, fast_settings())
        assert report.delivered == len(events(db)) == 4 and report.failed == 0
        _check_arrivals(db, rec)
        assert len(rec.arrivals) == 4
        a = rec.arrivals[0]
        assert a.headers["webhook-id"].startswith("msg_") and a.headers["content-type"] == "application/json"
        assert abs(int(a.headers["webhook-timestamp"]) - time.time()) < 60
        assert {x.type for x in rec.arrivals} == {"document.done", "document.partial", "job.done"}
    assert _statuses(db) == {"delivered": 4}


@pytest.mark.parametrize("answer", ["500", "429", "hang", "redirect", "400"])
def test_failing_receivers_get_every_event_with_the_same_id(both_databases: Database, answer: str) -> None:
    db = both_databases

    def behave(n: int, msg: str) -> tuple[int, dict[str, str], float]:
        if n % 2 == 1:  # every other request fails
            return 200, {}, 0.0
        if answer == "429":
            return 429, {"Retry-After": "1"}, 0.0
        if answer == "hang":
            return 200, {}, 1.5  # longer than the read time-out: a time-out for the sender
        if answer == "redirect":
            return 307, {"Location": "http://169.254.169.254/latest/meta-data"}, 0.0
        return int(answer), {}, 0.0

    with receiver() as rec:
        rec.behave = behave
        _subscribe(db, rec)
        _documents(db)
        started = time.monotonic()
        drain(db, 30, fast_settings())
        _check_arrivals(db, rec)
        tries = defaultdict(int)
        for a in rec.arrivals:
            tries[a.msg_id] += 1
        assert max(tries.values()) >= 2  # retried under the same webhook-id
        if answer == "429":  # the retry waited at least the Retry-After
            assert time.monotonic() - started >= 1.0
        if answer == "redirect":
            assert all(a.headers.get("host", "").startswith("127.0.0.1") for a in rec.arrivals)
    assert _statuses(db) == {"delivered": 4}


def test_410_disables_the_subscription(both_databases: Database) -> None:
    db = both_databases
    with receiver() as rec:
        rec.behave = lambda n, msg: (410, {}, 0.0)
        sid = _subscribe(db, rec)
        _documents(db)
        drain(db, 10, fast_settings())
        tried = len(rec.arrivals)  # the requests already in flight (one per subject, in parallel), none retried
        assert 1 <= tried <= 4 and len({a.msg_id for a in rec.arrivals}) == tried
        doc, ids = document_with_ranges(db, "later.pdf", 1)
        finish_range(db, doc, ids[0])
        drain(db, 5, fast_settings())
        assert len(rec.arrivals) == tried  # nothing more goes to a receiver that said Gone
    with db.read_session() as s:
        sub = s.get_one(WebhookSubscription, sid)
        assert not sub.enabled and "410" in (sub.disabled_reason or "")
    assert _statuses(db) == {"disabled": 4}  # the later event found the subscription disabled: no delivery


def test_gives_up_after_the_retry_time_and_redelivers_on_demand(both_databases: Database) -> None:
    db = both_databases
    with receiver() as rec:
        down = {"on": True}
        rec.behave = lambda n, msg: ((503, {}, 0.0) if down["on"] else (200, {}, 0.0))
        _subscribe(db, rec)
        doc, ids = document_with_ranges(db, "a.pdf", 1)
        finish_range(db, doc, ids[0])
        drain(db, 5, fast_settings(retry_for_s=0.5))
        assert _statuses(db) == {"failed": 1}
        with db.read_session() as s:
            row = s.scalars(select(WebhookDelivery)).one()
            assert row.attempts >= 2 and "gave up" in (row.last_error or "") and row.last_status_code == 503
        down["on"] = False
        assert redeliver(db, failed=True) == 1
        drain(db, 5, fast_settings(retry_for_s=0.5))
        assert _statuses(db) == {"delivered": 1}
        assert len({a.msg_id for a in rec.arrivals}) == 1  # the same webhook-id all along


def test_a_receiver_that_goes_away_gets_everything_when_it_is_back(both_databases: Database) -> None:
    db = both_databases
    with receiver() as rec:
        url = rec.url
        _subscribe(db, rec)
        secrets = list(rec.secrets)
    _documents(db, 2)  # nobody listens on that port now
    report = deliver_due(db, fast_settings(), max_s=1)
    assert report.delivered == 0 and report.retried >= 1
    with receiver(secrets) as back:
        with db.write_session() as s:  # the receiver came back on another port: point the subscription at it
            s.scalars(select(WebhookSubscription)).one().url = back.url
        drain(db, 20, fast_settings())
        _check_arrivals(db, back)
    assert url != back.url


def test_only_wanted_events_after_the_subscription(both_databases: Database) -> None:
    db = both_databases
    with receiver() as rec, receiver() as jobs_only:
        doc, ids = document_with_ranges(db, "before.pdf", 1, job_id=1)
        finish_range(db, doc, ids[0])  # before any subscription: delivered to nobody
        _subscribe(db, rec, collection="invoices")
        _subscribe(db, jobs_only, events=["job.done"])
        a, ra = document_with_ranges(db, "inv.pdf", 1, job_id=2, collection="invoices")
        b, rb = document_with_ranges(db, "other.pdf", 1, job_id=3)
        finish_range(db, a, ra[0])
        finish_range(db, b, rb[0])
        drain(db, 10, fast_settings())
        assert [(x.type, x.data.get("id")) for x in rec.arrivals] == [("document.done", a)]
        # two jobs are two subjects: sent in parallel, in either order
        assert sorted((x.type, x.data["id"]) for x in jobs_only.arrivals) == [("job.done", 2), ("job.done", 3)]


def test_rotated_secret_signs_beside_the_old_one(both_databases: Database) -> None:
    db = both_databases
    with receiver() as old_only, receiver() as new_only:
        sid = _subscribe(db, old_only)
        new = rotate_secret(db, sid)
        new_only.secrets.append(new)
        assert new.startswith("whsec_") and new not in old_only.secrets
        doc, ids = document_with_ranges(db, "a.pdf", 1)
        finish_range(db, doc, ids[0])
        drain(db, 10, fast_settings())
        assert old_only.arrivals[0].verified  # a receiver still on the old secret accepts it
        sig = old_only.arrivals[0].headers["webhook-signature"]
        assert len(sig.split(" ")) == 2 and all(x.startswith("v1,") for x in sig.split(" "))
        with db.read_session() as s:
            ev = s.scalars(select(WebhookEvent)).one()
        # and a receiver already on the new secret accepts the same request
        Webhook(new).verify(body_bytes(ev.payload), old_only.arrivals[0].headers)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://localhost/x", "http://10.1.2.3/x",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://192.168.0.1/"])
def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(TargetRefused) as err:
        resolve_target(url)
    assert "PAGEMILL_WEBHOOK_ALLOW_PRIVATE" in err.value.message
    assert resolve_target(url, allow_private=True).address


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/", "example.com/hook"])
def test_only_http_targets(url: str) -> None:
    with pytest.raises(TargetRefused):
        resolve_target(url, allow_private=True)


def test_a_private_target_fails_its_delivery_with_a_readable_error(both_databases: Database) -> None:
    db = both_databases
    with receiver() as rec:
        with pytest.raises(ConfigError):
            add_subscription(db, rec.url, settings=fast_settings(allow_private=False))
        _subscribe(db, rec)
        doc, ids = document_with_ranges(db, "a.pdf", 1)
        finish_range(db, doc, ids[0])
        report = drain(db, 5, fast_settings(allow_private=False))
        assert rec.arrivals == [] and report.failed == 1
    with db.read_session() as s:
        row = s.scalars(select(WebhookDelivery)).one()
    assert row.status == "failed" and "loopback" in (row.last_error or "")


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    s = fast_settings(retry_base_s=1, retry_max_s=100)
    assert backoff_s(1, s, rand=lambda: 1.0) == 1 and backoff_s(3, s, rand=lambda: 1.0) == 4
    assert backoff_s(3, s, rand=lambda: 0.0) == 2
    assert backoff_s(20, s, rand=lambda: 1.0) == 100
    assert backoff_s(1, s, retry_after_s=30, rand=lambda: 1.0) == 30
