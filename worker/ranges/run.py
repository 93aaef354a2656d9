"""One page range from claim to stored pages, as plain functions that need no Celery.

The database decides: a range is claimed (leased) in a write transaction (worker/ranges/claim.py), the provider runs
outside any transaction, and the result is written and the document's status recomputed (worker/ranges/store.py); an
error is recorded as a retry or a failure (worker/ranges/failures.py). A range already done is skipped, pages already
stored are not sent again, and attempts are counted at claim time so a range that kills its worker still
reaches PAGEMILL_MAX_ATTEMPTS and fails instead of looping.

While the provider works, a heartbeat (worker/ranges/lease.py) keeps the range's short lease alive, so only a dead
worker's range is swept. When the database itself is away for a moment, the range asks for a Celery retry
instead of failing: the database is the source of truth, so nothing is decided while it cannot be read.
"""

from __future__ import annotations

import logging
import time

from billiard.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError

from models.db import Database
from models.errors import DiskFull, PagemillError, ProviderUnavailable, StoreUnavailable

from ..objects.store import ObjectStore
from ..providers.base import OcrProvider, OcrResult
from ..redact import redact
from .claim import claim_range
from .failures import record_failure
from .lease import LeaseKeeper
from .retry import backoff_s
from .store import store_partial, store_result
from .types import ClaimedRange, RangeOutcome

__all__ = ["run_range", "database_away"]

log = logging.getLogger("pagemill.worker")

# how long a range that has its OCR result waits for an unreachable bucket to take its images: the result was
# paid for, and giving up would OCR (and bill) the range again
STORE_WAIT_S = 120.0


def _store_waiting(
    db: Database, objects: ObjectStore, claimed: ClaimedRange, result: OcrResult | None, provider: str,
    cost_per_page_usd: float, annotated_cost_per_page_usd: float | None = None, wait_s: float = STORE_WAIT_S,
) -> int:
    """store_result, waiting with backoff while the object store or the database is away (the images go first,
    before any row). The answer is paid for: a retry of the task would ask the provider, and bill, again (the soak,
    bench/soak.py, found a page billed twice when PostgreSQL was cut just after the provider answered). Storing is
    idempotent, so trying again after a transaction that failed halfway adds nothing twice."""
    deadline = time.monotonic() + wait_s
    attempt = 0
    while True:
        try:
            return store_result(db, objects, claimed, result, provider=provider, cost_per_page_usd=cost_per_page_usd,
                                annotated_cost_per_page_usd=annotated_cost_per_page_usd)
        except (StoreUnavailable, DiskFull, OperationalError, DBAPIError) as err:
            attempt += 1
            # the database is polled every second: a lease that ran out during a long outage lets another worker
            # claim the range and ask the provider again once the database is back, so the answer in hand must be
            # stored the moment it returns (the hour soak billed 10 pages twice with an 8 s pause here); a bucket or
            # a full disk is polled less often
            database = isinstance(err, (OperationalError, DBAPIError))
            pause = 1.0 if database else min(10.0, 0.5 * 2**attempt)
            if time.monotonic() + pause > deadline:
                raise
            what = err.message if isinstance(err, (StoreUnavailable, DiskFull)) else "the database is unavailable"
            log.warning("%s; the range's answer is kept and stored again in %.1f s", what, pause)
            time.sleep(pause)


def database_away(exc: Exception, attempt: int, retry_base_s: float, retry_max_s: float) -> RangeOutcome:
    """The database cannot be reached: ask for a Celery retry; the lease (if any) runs out meanwhile."""
    detail = redact(str(getattr(exc, "orig", None) or exc)).splitlines()[0][:200] if str(exc) else ""
    log.warning("database unavailable (%s: %s); the range will be retried", type(exc).__name__, detail)
    wait = max(1.0, backoff_s(max(1, attempt), retry_base_s, min(retry_max_s, 30.0)))
    return RangeOutcome("retry", retry_in_s=wait, message="database unavailable")


def run_range(
    db: Database,
    objects: ObjectStore,
    provider: OcrProvider,
    range_id: int,
    worker_id: str = "local",
    max_attempts: int = 4,
    lease_s: float = 60,
    retry_base_s: float = 2.0,
    retry_max_s: float = 300.0,
    cost_per_page_usd: float = 0.0,
    leases: LeaseKeeper | None = None,
    annotated_cost_per_page_usd: float | None = None,
    retry_window_s: float = 0.0,
) -> RangeOutcome:
    """Claim, OCR and store one range. `leases` is the process's lease keeper (a private one when None).
    A request that carried an annotation format bills at `annotated_cost_per_page_usd`."""
    if leases is None:
        own = LeaseKeeper(db, lease_s)
        try:
            return run_range(db, objects, provider, range_id, worker_id, max_attempts, lease_s, retry_base_s,
                             retry_max_s, cost_per_page_usd, own, annotated_cost_per_page_usd, retry_window_s)
        finally:
            own.close()
    try:
        claimed = claim_range(db, objects, range_id, worker_id, max_attempts, lease_s)
    except (OperationalError, DBAPIError) as exc:
        return database_away(exc, 1, retry_base_s, retry_max_s)
    if claimed is None:
        return RangeOutcome("skipped")
    outcome = _run_claimed(db, objects, provider, claimed, max_attempts, lease_s, retry_base_s, retry_max_s,
                           cost_per_page_usd, leases, annotated_cost_per_page_usd, retry_window_s)
    outcome.wants_fields = claimed.wants_fields
    return outcome


def _run_claimed(
    db: Database, objects: ObjectStore, provider: OcrProvider, claimed: ClaimedRange, max_attempts: int,
    lease_s: float, retry_base_s: float, retry_max_s: float, cost_per_page_usd: float, leases: LeaseKeeper,
    annotated_cost_per_page_usd: float | None, retry_window_s: float,
) -> RangeOutcome:
    range_id = claimed.range_id
    ctx = {"document_id": claimed.document_id, "range_id": range_id, "attempt": claimed.attempt}
    log.info("range started", extra=ctx)
    try:
        try:
            with leases.hold(claimed.range_id, claimed.holder, claimed.attempt):
                if claimed.pages and claimed.object_path:
                    # a bucket's original is downloaded into this host's cache (once per document), under the
                    # lease; a missing object is an ObjectMissing error on the range, an unreachable bucket a retry
                    objects.local_path(claimed.object_path)
                result = provider.ocr(claimed.source, claimed.pages) if claimed.pages else None
                written = _store_waiting(db, objects, claimed, result, provider.name, cost_per_page_usd,
                                         annotated_cost_per_page_usd)
        except PagemillError as err:
            log.warning("range failed: %s", redact(err.message), extra=ctx)
            if isinstance(err.partial, OcrResult):
                store_partial(db, objects, claimed, err.partial, provider=provider.name,
                              cost_per_page_usd=cost_per_page_usd,
                              annotated_cost_per_page_usd=annotated_cost_per_page_usd)
            return record_failure(db, claimed, err, max_attempts, retry_base_s, retry_max_s, retry_window_s)
        except (OperationalError, DBAPIError):
            raise
        except SoftTimeLimitExceeded:
            err = ProviderUnavailable("the range ran past its time limit (PAGEMILL_TASK_TIME_LIMIT_S)")
            return record_failure(db, claimed, err, max_attempts, retry_base_s, retry_max_s, retry_window_s)
        except Exception as exc:  # a bug or an engine crash: fail this range only, keep the worker alive
            log.exception("range crashed", extra=ctx)  # the worker's log filter redacts the traceback
            err = PagemillError(f"internal error: {type(exc).__name__}: {exc}")
            return record_failure(db, claimed, err, max_attempts, retry_base_s, retry_max_s, retry_window_s)
    except (OperationalError, DBAPIError) as exc:
        # storing (or recording the failure) hit a database outage: the provider's work is redone on retry,
        # pages already stored are skipped then
        away = database_away(exc, claimed.attempt, retry_base_s, retry_max_s)
        # the lease cannot be released while the database is away: retry once it has run out
        away.retry_in_s = max(away.retry_in_s or 0.0, lease_s + 1.0)
        return away
    return RangeOutcome("done", pages_written=written)
