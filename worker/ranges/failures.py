"""Recording a range that did not finish: retried later with backoff, or failed with a readable error.

A retryable error (429, 5xx, a timeout) puts the range back in the queue with a `not_before` that honours
Retry-After, until PAGEMILL_MAX_ATTEMPTS is spent; anything else, or the last attempt, fails the range with the
error's type and its redacted message, and the document's status is recomputed. A bad key (401/403) fails every
pending range at once, since each would fail the same way.

A provider outage (the API answering 429 or 5xx, or not at all) is not the range's fault: it spends attempts
only once it has lasted PAGEMILL_RETRY_WINDOW_S for that range (`failing_since`). Until then the last attempt
is given back and the waits grow with the outage's length, so a minute of 503s costs a few requests a range
and fails nothing (the hour soak, bench/soak.py, failed a range after 9 quick attempts in a 52 s outage).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.db import Database
from models.errors import (
    DiskFull,
    PagemillError,
    ProviderAuthError,
    ProviderUnavailable,
    RateLimited,
    StoreUnavailable,
)
from models.tables import PageRange, RangeStatus

from ..redact import redact
from .retry import backoff_s
from .row_lock import ROW_LOCK
from .store import finish_document
from .types import ClaimedRange, RangeOutcome

__all__ = ["fail_range", "record_failure"]


def _now() -> datetime:
    return datetime.now(UTC)


def fail_range(session: Session, rng: PageRange, code: str, message: str) -> None:
    rng.status = RangeStatus.failed
    rng.error = message
    rng.error_code = code
    rng.finished_at = _now()
    rng.lease_expires_at = None
    finish_document(session, rng.document_id)


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts  # SQLite gives naive UTC


def record_failure(
    db: Database, claimed: ClaimedRange, err: PagemillError, max_attempts: int, retry_base_s: float,
    retry_max_s: float, retry_window_s: float = 0.0,
) -> RangeOutcome:
    """Queue the range again after a backoff, or fail it; says which."""
    with db.write_session() as session:
        rng = session.get(PageRange, claimed.range_id, with_for_update=ROW_LOCK)
        if rng is None:
            return RangeOutcome("skipped")
        message = redact(err.message)
        outage_s = None  # how long the provider has been away for this range, when that is the error
        if isinstance(err, ProviderUnavailable) or (isinstance(err, RateLimited) and err.sent):
            since = _aware(rng.failing_since) or _now()
            rng.failing_since = since
            outage_s = (_now() - since).total_seconds()
            if rng.attempts >= max_attempts and outage_s < retry_window_s:
                rng.attempts = max_attempts - 1  # the last attempt is given back while the outage is young
        elif not isinstance(err, RateLimited):  # our own limiter holding back a request is part of the outage
            rng.failing_since = None
        if isinstance(err, RateLimited) and not err.sent:
            rng.attempts = max(0, rng.attempts - 1)  # our own limiter said wait: no request, no attempt spent
        elif isinstance(err, (StoreUnavailable, DiskFull)):
            # the bucket is away, as the database can be: the range waits for it (with backoff) instead of
            # failing after a few attempts; botocore has already retried each request a few times. A full disk
            # on this host likewise: space comes back, or another host takes the range (the soak's disk_full)
            rng.attempts = max(0, rng.attempts - 1)
        if err.retryable and rng.attempts < max_attempts:
            wait = backoff_s(rng.attempts, retry_base_s, retry_max_s)
            hinted = getattr(err, "retry_after_s", None)
            if hinted is not None:
                wait = max(wait, float(hinted))
            if outage_s is not None and outage_s > 0:
                # in a long outage, ask again after a share of its length so far: a few requests, not hundreds
                wait = max(wait, outage_s * random.uniform(0.25, 0.5))
            wait = min(wait, retry_max_s)
            rng.status = RangeStatus.queued
            rng.error = message
            rng.error_code = err.code
            rng.lease_expires_at = None
            rng.not_before = _now() + timedelta(seconds=wait)
            rng.enqueued_at = _now()
            return RangeOutcome("retry", retry_in_s=wait, message=message)
        if err.retryable:
            over = f" over {outage_s:.0f} s" if outage_s else ""
            message = f"gave up after {rng.attempts} attempts{over}: {message}"
        fail_range(session, rng, err.code, message)
        if isinstance(err, ProviderAuthError):
            _stop_pending(session, err)
        return RangeOutcome("failed", message=message)


def _stop_pending(session: Session, err: PagemillError) -> None:
    """A bad key fails every range the same way: fail the pending ones at once instead of one by one."""
    doc_ids = set(
        session.scalars(select(PageRange.document_id).where(PageRange.status == RangeStatus.queued))
    )
    session.execute(
        update(PageRange)
        .where(PageRange.status == RangeStatus.queued)
        .values(status=RangeStatus.failed, error=redact(err.message), error_code=err.code, finished_at=_now())
    )
    for doc_id in doc_ids:
        finish_document(session, doc_id)
