"""One page range from claim to stored pages, as plain functions that need no Celery.

The database decides: a range is claimed (leased) in a write transaction, the provider runs outside any
transaction, and the result is written and the document's status recomputed in another. A range already done
is skipped, pages already stored are not sent again, and attempts are counted at claim time so a range that
kills its worker still reaches PAGEMILL_MAX_ATTEMPTS and fails instead of looping.

While the provider works, a heartbeat (worker/lease.py) keeps the range's short lease alive, so only a dead
worker's range is swept. When the database itself is away for a moment, the range asks for a Celery retry
instead of failing: the database is the source of truth, so nothing is decided while it cannot be read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from sqlalchemy import Connection, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from models.db import Database, pipelined
from models.errors import (
    ErrorCode,
    PagemillError,
    ProviderAuthError,
    ProviderUnavailable,
    RateLimited,
    StoreUnavailable,
)
from models.tables import DocStatus, Document, Page, PageRange, RangeStatus

from .group_commit import GroupCommit
from .lease import LeaseKeeper, holder_is_dead, holder_name
from .objects import ObjectStore
from .persist import PreparedResult, connection_of, insert_prepared, insert_prepared_many, prepare_result
from .providers.base import OcrProvider, OcrResult, SourceDocument
from .redact import redact
from .retry import backoff_s

__all__ = [
    "ClaimRequest",
    "ClaimedRange",
    "FinishedRange",
    "GroupWrites",
    "RangeOutcome",
    "claim_range",
    "claim_ranges",
    "fail_range",
    "finish_document",
    "run_range",
    "settle_document",
    "store_finished",
]

log = logging.getLogger("pagemill.worker")


@dataclass
class ClaimedRange:
    range_id: int
    document_id: int
    attempt: int
    pages: list[int]  # pages of the range still missing from the pages table
    source: SourceDocument
    holder: str = ""  # the lease holder written on the row
    object_path: str = ""  # the original (or its decrypted copy) in the object store


@dataclass
class RangeOutcome:
    status: str  # done | skipped | failed | retry
    pages_written: int = 0
    retry_in_s: float | None = None
    message: str | None = None


# FOR NO KEY UPDATE on PostgreSQL: it serialises writers of the row like FOR UPDATE, but does not conflict with
# the KEY SHARE locks that inserting pages/images/usage takes on their document and range through the foreign
# keys. With FOR UPDATE, two ranges of one document storing at once deadlock: each holds KEY SHARE on the document
# from its page inserts and waits for the other's to lock it in finish_document. SQLite ignores it.
_ROW_LOCK = {"key_share": True}

_R, _D, _P = PageRange.__table__, Document.__table__, Page.__table__

# The statements run for every range, built once: SQLAlchemy then reuses their compiled form without
# rebuilding the expression or its cache key (measured: ~8% of a worker's CPU at 1500 pages/s). They spell out
# `a = x OR a = y` rather than IN (x, y): SQLAlchemy renders an IN list anew at every execution.
_LOCK_DOCUMENT = select(_D.c.status).where(_D.c.id == bindparam("doc_id")).with_for_update(**_ROW_LOCK)
_RANGE_COUNTS = (
    select(_R.c.status, func.count()).where(_R.c.document_id == bindparam("doc_id")).group_by(_R.c.status)
)
# pages already stored between the range's first and last page: almost always 0, and then the precise
# query for which of its pages are stored (_STORED_PAGES) is skipped. Correlated to the range's row explicitly:
# in an UPDATE's RETURNING (_CLAIM_QUEUED) SQLAlchemy would not infer it
_STORED_IN_SPAN = (
    select(func.count())
    .select_from(_P)
    .where(_P.c.document_id == _R.c.document_id, _P.c.page_index.between(_R.c.first_page, _R.c.last_page))
    .correlate(_R)
    .scalar_subquery()
    .label("stored_in_span")
)
# asked after every stored range: EXISTS stops at the first pending range, found through the (document_id, status)
# index; a count read every pending range of the document, quadratic in its size
_ANY_PENDING = select(
    exists().where(
        _R.c.document_id == bindparam("doc_id"),
        or_(_R.c.status == RangeStatus.queued, _R.c.status == RangeStatus.running, _R.c.status == RangeStatus.held),
    )
)
_CLAIM_READ = (
    select(
        _R.c.status, _R.c.attempts, _R.c.worker, _R.c.lease_expires_at, _R.c.pages, _R.c.document_id,
        _D.c.status.label("doc_status"), _D.c.mime_type, _D.c.work_path, _D.c.object_path, _D.c.page_count,
        _STORED_IN_SPAN,
    )
    .join_from(_R, _D, _D.c.id == _R.c.document_id)
    .where(_R.c.id == bindparam("range_id"))
    .with_for_update(of=_R, **_ROW_LOCK)
)
_CLAIM_WRITE = (
    update(_R)
    .where(_R.c.id == bindparam("range_id"))
    .values(
        status=RangeStatus.running,
        attempts=bindparam("new_attempts"),
        worker=bindparam("holder"),
        started_at=bindparam("now"),
        lease_expires_at=bindparam("lease_until"),
    )
)
_DOCUMENT_STARTED = (
    update(_D)
    .where(_D.c.id == bindparam("doc_id"), _D.c.status == DocStatus.queued)
    .values(status=DocStatus.running)
)
_STORED_PAGES = select(_P.c.page_index).where(
    _P.c.document_id == bindparam("doc_id"), _P.c.page_index.in_(bindparam("pages", expanding=True))
)
# PostgreSQL's claim of a queued range, the common case, as one statement in autocommit: the row lock and the
# re-check of the WHERE clause on the latest row version (READ COMMITTED) let only one of two claimers win, and a
# round trip costs the worker ~0.1 ms of CPU (the transactional claim below takes five). Every other case
# (running, out of attempts, cancelled, gone) returns no row and takes the transactional path. SQLite cannot
# return the joined document's columns from an UPDATE, and its statements are in-process calls anyway.
#
# Its commit does not wait for the WAL flush (synchronous_commit off, for this statement's transaction only:
# set_config(..., true) in the WHERE clause, so no extra round trip). Losing a claim costs nothing: it is only
# lost if PostgreSQL itself crashes before the range's store, whose commit stays synchronous (and flushes the
# claim's WAL with it); the range is then queued again, and the store still marks it done. Waiting for the flush
# took ~0.2 ms of every claim here, time in which the claiming thread holds a pool connection and does nothing.
_CLAIM_QUEUED = (
    update(_R)
    .where(
        _R.c.id == bindparam("range_id"),
        _R.c.status == RangeStatus.queued,
        _R.c.attempts < bindparam("max_attempts"),
        _D.c.id == _R.c.document_id,
        _D.c.status != DocStatus.cancelled,
        func.set_config("synchronous_commit", "off", True).is_not(None),
    )
    .values(
        status=RangeStatus.running,
        attempts=_R.c.attempts + 1,
        worker=bindparam("holder"),
        started_at=bindparam("now"),
        lease_expires_at=bindparam("lease_until"),
    )
    .returning(
        _R.c.attempts, _R.c.pages, _R.c.document_id, _D.c.status.label("doc_status"), _D.c.mime_type,
        _D.c.work_path, _D.c.object_path, _D.c.page_count, _STORED_IN_SPAN,
    )
)
_RANGE_DONE = (
    update(_R)
    .where(_R.c.id == bindparam("range_id"), *(_R.c.status != status for status in sorted(RangeStatus.TERMINAL)))
    .values(
        status=RangeStatus.done, error=None, error_code=None, finished_at=bindparam("now"), lease_expires_at=None
    )
)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    if ts is not None and ts.tzinfo is None:  # SQLite returns naive datetimes
        return ts.replace(tzinfo=UTC)
    return ts


def finish_document(target: Session | Connection, document_id: int) -> str:
    """Recompute a document's status from its ranges. Locks the document row so that two ranges finishing
    at once cannot both miss each other's commit (PostgreSQL READ COMMITTED).

    Core statements, not the ORM: this runs once per range on the workers' hot path. Given a session, a
    `Document` it holds is flushed before and expired after, so it reads the new status."""
    if isinstance(target, Session):
        target.flush()
    conn = connection_of(target)
    current = conn.execute(_LOCK_DOCUMENT, {"doc_id": document_id}).scalar_one_or_none()
    if current is None:
        return DocStatus.failed
    if current == DocStatus.cancelled:
        return current
    counts = dict(conn.execute(_RANGE_COUNTS, {"doc_id": document_id}).all())  # type: ignore[arg-type]
    pending = counts.get(RangeStatus.queued, 0) + counts.get(RangeStatus.running, 0) + counts.get(RangeStatus.held, 0)
    done = counts.get(RangeStatus.done, 0)
    failed = counts.get(RangeStatus.failed, 0)
    if pending:
        new = DocStatus.running if (done or failed or counts.get(RangeStatus.running)) else DocStatus.queued
    elif failed and done:
        new = DocStatus.partial
    elif failed:
        new = DocStatus.failed
    else:
        new = DocStatus.done
    if new == current and new not in DocStatus.TERMINAL:
        return new  # the common case while a document is being worked on: nothing to write
    values: dict[str, Any] = {"status": new}
    if new in (DocStatus.partial, DocStatus.failed):
        first = conn.execute(
            select(_R.c.error, _R.c.error_code, _R.c.first_page, _R.c.last_page)
            .where(_R.c.document_id == document_id, _R.c.status == RangeStatus.failed)
            .order_by(_R.c.seq)
            .limit(1)
        ).one()
        values["error"] = f"{failed} of {failed + done} page ranges failed; pages {first[2]}-{first[3]}: {first[0]}"
        values["error_code"] = first[1]
    elif new == DocStatus.done:
        values["error"] = None
        values["error_code"] = None
    if new in DocStatus.TERMINAL and current not in DocStatus.TERMINAL:
        values["finished_at"] = _now()
    conn.execute(update(_D).where(_D.c.id == document_id).values(**values))
    if isinstance(target, Session):
        held = target.identity_map.get(identity_key(Document, document_id))
        if held is not None:
            target.expire(held)
    return new


def fail_range(session: Session, rng: PageRange, code: str, message: str) -> None:
    rng.status = RangeStatus.failed
    rng.error = message
    rng.error_code = code
    rng.finished_at = _now()
    rng.lease_expires_at = None
    finish_document(session, rng.document_id)


@dataclass(frozen=True)
class ClaimRequest:
    """One thread's wish to run a range; `holder` names that thread (lease.holder_name)."""

    range_id: int
    worker_id: str
    holder: str
    max_attempts: int
    lease_s: float


def claim_range(
    db: Database, objects: ObjectStore, range_id: int, worker_id: str, max_attempts: int, lease_s: float
) -> ClaimedRange | None:
    """Lease a range to this worker thread, or None when it must not run here (done, cancelled, held by a
    live worker, out of attempts)."""
    request = ClaimRequest(range_id, worker_id, holder_name(worker_id), max_attempts, lease_s)
    return claim_ranges(db, objects, [request])[0]


def claim_ranges(db: Database, objects: ObjectStore, requests: Sequence[ClaimRequest]) -> list[ClaimedRange | None]:
    """`claim_range` for the requests of several threads at once, one answer per request.

    Core statements: this runs once per range on the hot path. On PostgreSQL a queued range, the common case, is
    claimed by one statement in autocommit (_CLAIM_QUEUED); every other case, and SQLite, reads the range under
    its row lock and decides, the requests of a batch in one transaction (group_commit.py; SQLite only)."""
    answers: dict[int, ClaimedRange | None] = {}
    rest = list(requests) if db.is_sqlite else []
    if not db.is_sqlite:
        with db.autocommit_connection() as conn:
            for request in requests:
                claimed = _claim_queued(conn, objects, request)
                if claimed is None:
                    rest.append(request)
                else:
                    answers[id(request)] = claimed
    if rest:
        with db.write_connection() as conn:
            for request in sorted(rest, key=lambda r: r.range_id):  # row locks in range order, as the stores
                answers[id(request)] = _claim_locked(conn, objects, request)
    return [answers[id(request)] for request in requests]


def _claim_queued(conn: Connection, objects: ObjectStore, request: ClaimRequest) -> ClaimedRange | None:
    """PostgreSQL: claim the range if it is queued, in one statement; None when it is not (or not claimable)."""
    now = _now()
    row = conn.execute(_CLAIM_QUEUED, {
        "range_id": request.range_id, "max_attempts": request.max_attempts, "holder": request.holder, "now": now,
        "lease_until": now + timedelta(seconds=request.lease_s),
    }).one_or_none()
    if row is None:
        return None
    if row.doc_status == DocStatus.queued:
        conn.execute(_DOCUMENT_STARTED, {"doc_id": row.document_id})
    return _claimed(conn, objects, request.range_id, row, row.attempts, request.holder)


def _claim_locked(conn: Connection, objects: ObjectStore, request: ClaimRequest) -> ClaimedRange | None:
    """Read the range under its row lock (inside the caller's write transaction) and decide."""
    range_id = request.range_id
    row = conn.execute(_CLAIM_READ, {"range_id": range_id}).one_or_none()
    if row is None or row.status in RangeStatus.TERMINAL or row.doc_status == DocStatus.cancelled:
        return None
    now = _now()
    lease = _aware(row.lease_expires_at)
    holder = request.holder
    if (
        row.status == RangeStatus.running
        and lease is not None
        and lease > now
        and row.worker != holder
        and not holder_is_dead(row.worker, request.worker_id)
    ):
        return None  # a live worker holds it: this message is a duplicate delivery
    if row.attempts >= request.max_attempts:
        with Session(bind=conn) as session:  # joins the caller's transaction, which commits it
            rng = session.get(PageRange, range_id)
            assert rng is not None  # locked above
            last = rng.error or "the worker was lost while processing this range"
            fail_range(
                session,
                rng,
                rng.error_code or ErrorCode.worker_lost,
                f"gave up after {rng.attempts} attempts: {last}",
            )
            session.flush()
        return None
    attempt = row.attempts + 1
    conn.execute(_CLAIM_WRITE, {
        "range_id": range_id, "new_attempts": attempt, "holder": holder, "now": now,
        "lease_until": now + timedelta(seconds=request.lease_s),
    })
    if row.doc_status == DocStatus.queued:
        conn.execute(_DOCUMENT_STARTED, {"doc_id": row.document_id})
    return _claimed(conn, objects, range_id, row, attempt, holder)


def _claimed(
    conn: Connection, objects: ObjectStore, range_id: int, row: Any, attempt: int, holder: str
) -> ClaimedRange:
    """The claimed range, from its claim row: pages already stored are left out."""
    pages: list[int] = list(row.pages)
    stored: set[int] = set()
    if row.stored_in_span:
        stored = set(conn.execute(_STORED_PAGES, {"doc_id": row.document_id, "pages": pages}).scalars())
    kind = "pdf" if row.mime_type == "application/pdf" else "image"
    relpath = row.work_path or row.object_path
    source = SourceDocument(
        path=objects.local_name(relpath),  # no I/O under the claim's locks: fetched before the provider runs
        mime_type=row.mime_type or "",
        kind=kind,
        page_count=row.page_count or 0,
    )
    return ClaimedRange(
        range_id, row.document_id, attempt, [p for p in pages if p not in stored], source, holder, relpath
    )


@dataclass
class FinishedRange:
    """A range whose provider call is over, its image objects stored: the rows to write (group_commit.py)."""

    range_id: int
    document_id: int
    prepared: PreparedResult | None  # None: every page was already stored


def store_finished(db: Database, items: Sequence[FinishedRange]) -> list[int]:
    """Mark the ranges done and insert their rows in one transaction, then finish each document with nothing
    left queued or running. Returns the pages written per item. Rows are written in range order, so two
    batches (or a batch and the lease keeper) lock rows in the same order and cannot deadlock."""
    ordered = sorted(items, key=lambda it: it.range_id)
    now = _now()
    done = [{"range_id": it.range_id, "now": now} for it in ordered]
    prepared = [it.prepared for it in ordered if it.prepared is not None]
    documents = sorted({it.document_id for it in ordered})
    if db.is_sqlite:
        with db.write_connection() as conn:
            conn.execute(_RANGE_DONE, done)
            insert_prepared_many(conn, prepared)
            # one writer at a time: this check sees every other range's commit, so the last range finishes
            # its document here, without the separate check PostgreSQL needs (settle_document)
            for document_id in documents:
                if not conn.execute(_ANY_PENDING, {"doc_id": document_id}).scalar_one():
                    finish_document(conn, document_id)
    else:
        # one pool checkout for the write and for the settle checks after its commit
        with db.engine.connect() as conn:
            with conn.begin(), pipelined(conn):
                # the UPDATE takes the ranges' row locks first, as the claim did
                conn.execute(_RANGE_DONE, done)
                insert_prepared_many(conn, prepared)
            reader = conn.execution_options(isolation_level="AUTOCOMMIT")
            for document_id in documents:
                _settle(db, reader, document_id)
    return [len(it.prepared.pages) if it.prepared is not None else 0 for it in items]


def _database_error(exc: Exception) -> bool:
    """The database is away, locked or aborted the transaction (not a row's fault): every range of the batch
    would meet it again, so they all take the database-away path at once (run_range)."""
    return isinstance(exc, OperationalError)


class GroupWrites:
    """The claims and the stores of one worker process's threads, each batched by a group commit: the threads
    that claim (or store) while another does share its next transaction (worker/group_commit.py). Claims are
    batched on SQLite only (`claim`)."""

    def __init__(self, db: Database, objects: ObjectStore, max_batch: int = 32) -> None:
        self.db = db
        self.objects = objects
        self.claims: GroupCommit[ClaimRequest, ClaimedRange | None] = GroupCommit(
            lambda requests: claim_ranges(db, objects, requests), max_batch, _database_error
        )
        self.stores: GroupCommit[FinishedRange, int] = GroupCommit(
            lambda items: store_finished(db, items), max_batch, _database_error
        )

    def claim(self, request: ClaimRequest) -> ClaimedRange | None:
        # PostgreSQL claims a queued range in one autocommit statement, with no transaction to share; batched as
        # one UPDATE .. FROM unnest(ids, holders) it cost the server more CPU per range than it saved (measured)
        if not self.db.is_sqlite:
            return claim_ranges(self.db, self.objects, [request])[0]
        return self.claims.commit(request)

    def store(self, finished: FinishedRange) -> int:
        return self.stores.commit(finished)

    def summary(self) -> str:
        """How much the batching saved, for the worker's log at shutdown."""
        return ", ".join(
            f"{name}: {c.items} range(s) in {c.batches} transaction(s)"
            for name, c in (("claims", self.claims), ("stores", self.stores))
        )


# how long a range that has its OCR result waits for an unreachable bucket to take its images: the result was
# paid for, and giving up would OCR (and bill) the range again
STORE_WAIT_S = 120.0


def _prepare_waiting(
    objects: ObjectStore, claimed: ClaimedRange, provider: OcrProvider, result: OcrResult, cost_per_page_usd: float,
    wait_s: float = STORE_WAIT_S,
) -> PreparedResult:
    """Store the result's images (before the transaction, so the locks are held for row inserts only), waiting
    with backoff while the object store is away."""
    deadline = time.monotonic() + wait_s
    attempt = 0
    while True:
        try:
            return prepare_result(
                objects, claimed.document_id, claimed.range_id, provider.name, result, cost_per_page_usd
            )
        except StoreUnavailable as err:
            attempt += 1
            pause = min(10.0, 0.5 * 2**attempt)
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s; the range's images are kept and stored again in %.1f s", err.message, pause)
            time.sleep(pause)


def settle_document(db: Database, document_id: int) -> None:
    """After a range's commit: finish its document once no range of it is left queued or running.

    Checked after the commit, in a new transaction, rather than under the document's row lock inside it: of
    ranges finishing at the same time, the one that commits last sees every other commit and finishes the
    document, and while ranges remain no lock is taken at all (every store of a document used to queue on
    that lock). A worker that dies between its commit and this check leaves the document to the sweep."""
    with db.read_connection() as conn:
        _settle(db, conn, document_id)


def _settle(db: Database, reader: Connection, document_id: int) -> None:
    """settle_document's check, on a connection that sees every commit (autocommit on PostgreSQL)."""
    if not reader.execute(_ANY_PENDING, {"doc_id": document_id}).scalar_one():
        with db.write_connection() as conn:
            finish_document(conn, document_id)


def _store_partial(
    db: Database, objects: ObjectStore, claimed: ClaimedRange, provider: OcrProvider, result: OcrResult,
    cost_per_page_usd: float,
) -> None:
    """Pages a provider was paid for before it failed on the rest of the range: keep them, so the retry
    sends (and pays for) only the missing pages."""
    prepared = prepare_result(objects, claimed.document_id, claimed.range_id, provider.name, result, cost_per_page_usd)
    with db.write_session() as session:
        insert_prepared(session, prepared)


def _record_failure(
    db: Database, claimed: ClaimedRange, err: PagemillError, max_attempts: int, retry_base_s: float,
    retry_max_s: float,
) -> RangeOutcome:
    with db.write_session() as session:
        rng = session.get(PageRange, claimed.range_id, with_for_update=_ROW_LOCK)
        if rng is None:
            return RangeOutcome("skipped")
        message = redact(err.message)
        if isinstance(err, RateLimited) and not err.sent:
            rng.attempts = max(0, rng.attempts - 1)  # our own limiter said wait: no request, no attempt spent
        elif isinstance(err, StoreUnavailable):
            # the bucket is away, as the database can be: the range waits for it (with backoff) instead of
            # failing after a few attempts; botocore has already retried each request a few times
            rng.attempts = max(0, rng.attempts - 1)
        if err.retryable and rng.attempts < max_attempts:
            wait = backoff_s(rng.attempts, retry_base_s, retry_max_s)
            hinted = getattr(err, "retry_after_s", None)
            if hinted is not None:
                wait = max(wait, float(hinted))
            wait = min(wait, retry_max_s)
            rng.status = RangeStatus.queued
            rng.error = message
            rng.error_code = err.code
            rng.lease_expires_at = None
            rng.not_before = _now() + timedelta(seconds=wait)
            rng.enqueued_at = _now()
            return RangeOutcome("retry", retry_in_s=wait, message=message)
        if err.retryable:
            message = f"gave up after {rng.attempts} attempts: {message}"
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


def _database_away(exc: Exception, attempt: int, retry_base_s: float, retry_max_s: float) -> RangeOutcome:
    """The database cannot be reached: ask for a Celery retry; the lease (if any) runs out meanwhile."""
    detail = redact(str(getattr(exc, "orig", None) or exc)).splitlines()[0][:200] if str(exc) else ""
    log.warning("database unavailable (%s: %s); the range will be retried", type(exc).__name__, detail)
    wait = max(1.0, backoff_s(max(1, attempt), retry_base_s, min(retry_max_s, 30.0)))
    return RangeOutcome("retry", retry_in_s=wait, message="database unavailable")


def _ocr_and_store(
    db: Database, objects: ObjectStore, provider: OcrProvider, claimed: ClaimedRange, leases: LeaseKeeper,
    cost_per_page_usd: float, writes: GroupWrites | None,
) -> int:
    with leases.hold(claimed.range_id, claimed.holder, claimed.attempt):
        if claimed.pages and claimed.object_path:
            # a bucket's original is downloaded into this host's cache (once per document), under the lease;
            # a missing object is an ObjectMissing error on the range, an unreachable bucket a retry
            objects.local_path(claimed.object_path)
        result = provider.ocr(claimed.source, claimed.pages) if claimed.pages else None
        prepared = None
        if result is not None:
            prepared = _prepare_waiting(objects, claimed, provider, result, cost_per_page_usd)
    finished = FinishedRange(claimed.range_id, claimed.document_id, prepared)
    return writes.store(finished) if writes is not None else store_finished(db, [finished])[0]


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
    writes: GroupWrites | None = None,
) -> RangeOutcome:
    """Claim, OCR and store one range. `leases` is the process's lease keeper (a private one when None);
    `writes` batches the claims and stores of the process's threads (each range writes alone when None)."""
    if leases is None:
        own = LeaseKeeper(db, lease_s)
        try:
            return run_range(db, objects, provider, range_id, worker_id, max_attempts, lease_s, retry_base_s,
                             retry_max_s, cost_per_page_usd, own, writes)
        finally:
            own.close()
    try:
        request = ClaimRequest(range_id, worker_id, holder_name(worker_id), max_attempts, lease_s)
        claimed = writes.claim(request) if writes is not None else claim_ranges(db, objects, [request])[0]
    except (OperationalError, DBAPIError) as exc:
        return _database_away(exc, 1, retry_base_s, retry_max_s)
    if claimed is None:
        return RangeOutcome("skipped")
    ctx = {"document_id": claimed.document_id, "range_id": range_id, "attempt": claimed.attempt}
    log.info("range started", extra=ctx)
    try:
        try:
            written = _ocr_and_store(db, objects, provider, claimed, leases, cost_per_page_usd, writes)
        except PagemillError as err:
            log.warning("range failed: %s", redact(err.message), extra=ctx)
            if isinstance(err.partial, OcrResult):
                _store_partial(db, objects, claimed, provider, err.partial, cost_per_page_usd)
            return _record_failure(db, claimed, err, max_attempts, retry_base_s, retry_max_s)
        except (OperationalError, DBAPIError):
            raise
        except SoftTimeLimitExceeded:
            err = ProviderUnavailable("the range ran past its time limit (PAGEMILL_TASK_TIME_LIMIT_S)")
            return _record_failure(db, claimed, err, max_attempts, retry_base_s, retry_max_s)
        except Exception as exc:  # a bug or an engine crash: fail this range only, keep the worker alive
            log.exception("range crashed", extra=ctx)  # the worker's log filter redacts the traceback
            err = PagemillError(f"internal error: {type(exc).__name__}: {exc}")
            return _record_failure(db, claimed, err, max_attempts, retry_base_s, retry_max_s)
    except (OperationalError, DBAPIError) as exc:
        # storing (or recording the failure) hit a database outage: the provider's work is redone on retry,
        # pages already stored are skipped then
        away = _database_away(exc, claimed.attempt, retry_base_s, retry_max_s)
        # the lease cannot be released while the database is away: retry once it has run out
        away.retry_in_s = max(away.retry_in_s or 0.0, lease_s + 1.0)
        return away
    return RangeOutcome("done", pages_written=written)
