"""Storing a range's result: its pages, images and usage rows, the range marked done, its document finished.

One path for SQLite and PostgreSQL. The image objects are written before the transaction (worker/ranges/persist.py), so
the transaction only inserts rows; inserts skip rows that exist, so a redelivered range adds nothing. The document
is settled after the commit, in a new transaction: of ranges finishing at the same time, the one that commits
last sees every other commit and finishes the document, and while ranges remain no document lock is taken. A
worker that dies between the commit and the settle leaves the document to the sweep (scheduler/sweep/periodic.py).

`store_result` is the entry for a claimed range's `OcrResult`: the Celery task calls it through run_range.
`store_prepared` is the same store for rows already prepared: the Batch API collector's way in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from models.db import Database
from models.outbox import document_finished
from models.tables import DocStatus, Document, PageRange, RangeStatus

from ..extraction.annotation import fields_row
from ..objects.store import ObjectStore
from ..providers.base import OcrResult
from .persist import PreparedResult, connection_of, insert_prepared, prepare_result
from .row_lock import ROW_LOCK
from .types import ClaimedRange

__all__ = ["finish_document", "settle_document", "store_partial", "store_prepared", "store_result"]

_R, _D = PageRange.__table__, Document.__table__

_LOCK_DOCUMENT = select(_D.c.status).where(_D.c.id == bindparam("doc_id")).with_for_update(**ROW_LOCK)
_RANGE_COUNTS = (
    select(_R.c.status, func.count()).where(_R.c.document_id == bindparam("doc_id")).group_by(_R.c.status)
)
# asked after every stored range: EXISTS stops at the first pending range, found through the (document_id, status)
# index; a count read every pending range of the document, quadratic in its size
_ANY_PENDING = select(
    exists().where(
        _R.c.document_id == bindparam("doc_id"),
        or_(_R.c.status == RangeStatus.queued, _R.c.status == RangeStatus.running, _R.c.status == RangeStatus.held),
    )
)
_RANGE_DONE = (
    update(_R)
    .where(_R.c.id == bindparam("range_id"), _R.c.status.not_in(sorted(RangeStatus.TERMINAL)))
    .values(
        status=RangeStatus.done, error=None, error_code=None, finished_at=bindparam("now"), lease_expires_at=None
    )
)


def _now() -> datetime:
    return datetime.now(UTC)


def store_result(
    db: Database, objects: ObjectStore, claimed: ClaimedRange, result: OcrResult | None, *, provider: str,
    cost_per_page_usd: float = 0.0, annotated_cost_per_page_usd: float | None = None,
) -> int:
    """Store `result` for the claimed range, mark the range done and finish its document if it was the last.
    `result` None: every page of the range was already stored. `provider` names the provider for the pages'
    source and the usage ledger; a request that carried an annotation format bills at
    `annotated_cost_per_page_usd`, and its document annotation becomes the fields row. Returns the pages written."""
    prepared = None
    if result is not None:
        prepared = prepare_result(objects, claimed.document_id, claimed.range_id, provider, result, cost_per_page_usd,
                                  annotated_cost_per_page_usd=annotated_cost_per_page_usd)
        prepared.fields = fields_row(claimed.document_id, claimed.source.annotation, result)
    return store_prepared(db, claimed.range_id, claimed.document_id, prepared)


def store_prepared(db: Database, range_id: int, document_id: int, prepared: PreparedResult | None) -> int:
    """`store_result` for rows already prepared (their image objects stored): the batch collector's way in."""
    with db.write_connection() as conn:
        # the range's row lock first, as the claim took it
        conn.execute(_RANGE_DONE, {"range_id": range_id, "now": _now()})
        written = insert_prepared(conn, prepared) if prepared is not None else 0
    settle_document(db, document_id)
    return written


def store_partial(
    db: Database, objects: ObjectStore, claimed: ClaimedRange, result: OcrResult, *, provider: str,
    cost_per_page_usd: float = 0.0, annotated_cost_per_page_usd: float | None = None,
) -> int:
    """Pages a provider was paid for before it failed on the rest of the range: keep them, so the retry sends
    (and pays for) only the missing pages. The range itself is left to the failure's record (worker/ranges/failures.py)."""
    prepared = prepare_result(objects, claimed.document_id, claimed.range_id, provider, result, cost_per_page_usd,
                              annotated_cost_per_page_usd=annotated_cost_per_page_usd)
    with db.write_connection() as conn:
        return insert_prepared(conn, prepared)


def settle_document(db: Database, document_id: int) -> None:
    """After a range's commit: finish its document once no range of it is left queued or running."""
    with db.read_connection() as conn:
        pending = conn.execute(_ANY_PENDING, {"doc_id": document_id}).scalar_one()
    if not pending:
        with db.write_connection() as conn:
            finish_document(conn, document_id)


def finish_document(target: Session | Connection, document_id: int) -> str:
    """Recompute a document's status from its ranges. Locks the document row so that two ranges finishing
    at once cannot both miss each other's commit (PostgreSQL READ COMMITTED).

    Given a session, a `Document` it holds is flushed before and expired after, so it reads the new status."""
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
    if new in (DocStatus.done, DocStatus.partial):
        # its archive copy (--archive, scheduler/export/archive.py) is now out of date: written again
        values["archive_rev"] = _D.c.archive_rev + 1
    conn.execute(update(_D).where(_D.c.id == document_id).values(**values))
    if new != current:
        document_finished(conn, document_id, new)  # its webhook event (and job.done), in this transaction
    if isinstance(target, Session):
        held = target.identity_map.get(identity_key(Document, document_id))
        if held is not None:
            target.expire(held)
    return new
