"""Claiming a range: lease it to this worker thread, or say it must not run here.

One path for SQLite and PostgreSQL: a write transaction reads the range under its row lock (worker/ranges/row_lock.py
says how the databases differ there) and decides. A range already done, cancelled, or held by a live worker
(a duplicate delivery) is not claimed; a range out of attempts is failed with its last error. Attempts are counted
here, at claim time, so a range that kills its worker still reaches PAGEMILL_MAX_ATTEMPTS instead of looping.
Pages of the range already stored are left out of the claim, so they are neither sent nor paid for again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.orm import Session

from models.db import Database
from models.errors import ErrorCode
from models.tables import DocStatus, Document, Page, PageRange, RangeStatus

from ..extraction.annotation import annotation_for
from ..objects.store import ObjectStore
from ..providers.base import SourceDocument
from .failures import fail_range
from .lease import holder_is_dead, holder_name
from .row_lock import ROW_LOCK
from .types import ClaimedRange

__all__ = ["claim_range"]

_R, _D, _P = PageRange.__table__, Document.__table__, Page.__table__


# pages already stored between the range's first and last page: almost always 0, and then the query for which
# of its pages are stored (_STORED_PAGES) is skipped
_STORED_IN_SPAN = (
    select(func.count())
    .select_from(_P)
    .where(_P.c.document_id == _R.c.document_id, _P.c.page_index.between(_R.c.first_page, _R.c.last_page))
    .correlate(_R)
    .scalar_subquery()
    .label("stored_in_span")
)
_CLAIM_READ = (
    select(
        _R.c.status, _R.c.attempts, _R.c.worker, _R.c.lease_expires_at, _R.c.pages, _R.c.document_id,
        _D.c.status.label("doc_status"), _D.c.mime_type, _D.c.work_path, _D.c.object_path, _D.c.page_count,
        _D.c.options, _STORED_IN_SPAN,
    )
    .join_from(_R, _D, _D.c.id == _R.c.document_id)
    .where(_R.c.id == bindparam("range_id"))
    .with_for_update(of=_R, **ROW_LOCK)
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


def _aware(ts: datetime | None) -> datetime | None:
    if ts is not None and ts.tzinfo is None:  # SQLite returns naive datetimes
        return ts.replace(tzinfo=UTC)
    return ts


def claim_range(
    db: Database, objects: ObjectStore, range_id: int, worker_id: str, max_attempts: int, lease_s: float
) -> ClaimedRange | None:
    """Lease a range to this worker thread, or None when it must not run here (done, cancelled, held by a
    live worker, out of attempts)."""
    holder = holder_name(worker_id)
    with db.write_connection() as conn:
        row = conn.execute(_CLAIM_READ, {"range_id": range_id}).one_or_none()
        if row is None or row.status in RangeStatus.TERMINAL or row.doc_status == DocStatus.cancelled:
            return None
        now = datetime.now(UTC)
        lease = _aware(row.lease_expires_at)
        if (
            row.status == RangeStatus.running
            and lease is not None
            and lease > now
            and row.worker != holder
            and not holder_is_dead(row.worker, worker_id)
        ):
            return None  # a live worker holds it: this message is a duplicate delivery
        if row.attempts >= max_attempts:
            _give_up(conn, range_id)
            return None
        attempt = row.attempts + 1
        conn.execute(_CLAIM_WRITE, {
            "range_id": range_id, "new_attempts": attempt, "holder": holder, "now": now,
            "lease_until": now + timedelta(seconds=lease_s),
        })
        if row.doc_status == DocStatus.queued:
            conn.execute(_DOCUMENT_STARTED, {"doc_id": row.document_id})
        return _claimed(conn, objects, range_id, row, attempt, holder)


def _give_up(conn: Connection, range_id: int) -> None:
    """A range out of attempts (its worker died on each): fail it with its last error."""
    with Session(bind=conn) as session:  # joins the caller's transaction, which commits it
        rng = session.get(PageRange, range_id)
        assert rng is not None  # locked by the caller
        last = rng.error or "the worker was lost while processing this range"
        fail_range(session, rng, rng.error_code or ErrorCode.worker_lost, f"gave up after {rng.attempts} attempts: {last}")
        session.flush()


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
    options = row.options
    annotation = None
    if options and ("schema" in options or "image_schema" in options):
        annotation = annotation_for(conn, options, whole_document=not stored)
    source = SourceDocument(
        path=objects.local_name(relpath),  # no I/O under the claim's locks: fetched before the provider runs
        mime_type=row.mime_type or "",
        kind=kind,
        page_count=row.page_count or 0,
        annotation=annotation,
    )
    return ClaimedRange(
        range_id, row.document_id, attempt, [p for p in pages if p not in stored], source, holder, relpath,
        wants_fields=bool(options and "schema" in options),
    )
