"""Ranges and the budget: reserve before sending, hold what does not fit, let held ranges go when it does.

`run_within_budget` wraps one synchronous range (worker/tasks/ocr.py): its worst-case cost (its pages at
PAGEMILL_PRICE_PER_1000_PAGES, at the annotated rate when its document has a schema) is reserved first; a
refusal puts the range in `held` with the reason instead of sending it (not failed, not billed); afterwards the
reservation is settled to the cost the usage ledger recorded
for the range meanwhile. Batch ranges are reserved when a job claims them (worker/batch/ranges.py) and settled
when their job is collected. `release_held` (the sweep) puts held ranges back in the queue once they fit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from models.db import Database
from models.errors import BudgetExceeded, ErrorCode
from models.outbox import range_held
from models.tables import Document, Job, JobDocument, PageRange, RangeStatus, Usage

from .limit import Budget, Charge

__all__ = ["RangeBudget", "range_budget", "hold", "run_within_budget", "release_held", "range_cost"]

log = logging.getLogger("pagemill.budget")


@dataclass(frozen=True)
class RangeBudget:
    range_id: int
    pages: int
    batch: bool
    job_id: int | None  # the latest job that covered the range's document
    job_limit_usd: float | None
    annotated: bool = False  # its document asks for annotations (a schema): its pages cost the annotated rate


def range_budget(db: Database, range_ids: list[int]) -> dict[int, RangeBudget]:
    if not range_ids:
        return {}
    latest = (select(JobDocument.document_id, func.max(JobDocument.job_id).label("job_id"))
              .group_by(JobDocument.document_id).subquery())
    with db.read_session() as s:
        rows = s.execute(
            select(PageRange.id, PageRange.pages, PageRange.batch, latest.c.job_id, Job.options, Document.options)
            .join(Document, Document.id == PageRange.document_id)
            .outerjoin(latest, latest.c.document_id == PageRange.document_id)
            .outerjoin(Job, Job.id == latest.c.job_id)
            .where(PageRange.id.in_(range_ids))
        ).all()
    out = {}
    for rid, pages, batch, job_id, options, doc_options in rows:
        limit = (options or {}).get("budget_usd") if isinstance(options, dict) else None
        annotated = isinstance(doc_options, dict) and ("schema" in doc_options or "image_schema" in doc_options)
        out[rid] = RangeBudget(rid, len(pages or []), bool(batch), job_id,
                               float(limit) if isinstance(limit, int | float) else None, annotated)
    return out


def hold(db: Database, range_id: int, err: BudgetExceeded) -> bool:
    """A queued range waits in `held` with the reason; True when it was put there."""
    with db.write_session() as s:
        changed = s.execute(
            update(PageRange).where(PageRange.id == range_id, PageRange.status == RangeStatus.queued)
            .values(status=RangeStatus.held, error=err.message, error_code=ErrorCode.budget, lease_expires_at=None)
        ).rowcount
        if changed:
            range_held(s, range_id, err.message)  # budget.held, in this transaction
    if changed:
        log.warning("range %d %s", range_id, err.message)
    return bool(changed)


def range_cost(db: Database, range_id: int, after_usage_id: int) -> float:
    """What the ledger recorded for the range since usage row `after_usage_id`."""
    with db.read_session() as s:
        return float(s.scalar(select(func.coalesce(func.sum(Usage.cost_usd), 0.0)).where(
            Usage.range_id == range_id, Usage.id > after_usage_id)) or 0.0)


def last_usage_id(db: Database) -> int:
    with db.read_session() as s:
        return int(s.scalar(select(func.coalesce(func.max(Usage.id), 0))) or 0)


def run_within_budget(db: Database, budget: Budget, range_id: int, price_per_page_usd: float,
                      run: Callable[[], Any], held: Callable[[str], Any],
                      annotated_price_per_page_usd: float | None = None) -> Any:
    """`run()` the range inside a reservation, or `held(reason)` when it does not fit (the range is then held).
    A range whose document asks for annotations is reserved at `annotated_price_per_page_usd`."""
    if price_per_page_usd <= 0 or not budget.may_apply(db):
        return run()
    ctx = range_budget(db, [range_id]).get(range_id)
    if ctx is None or price_per_page_usd <= 0 or not budget.limits(ctx.job_id, ctx.job_limit_usd):
        return run()
    try:
        if ctx.annotated and annotated_price_per_page_usd is not None:
            price_per_page_usd = annotated_price_per_page_usd
        charge: Charge = budget.reserve(ctx.pages * price_per_page_usd, ctx.job_id, ctx.job_limit_usd)
    except BudgetExceeded as err:
        hold(db, range_id, err)
        return held(err.message)
    mark = last_usage_id(db)
    try:
        return run()
    finally:
        budget.settle(charge, range_cost(db, range_id, mark))


def release_held(db: Database, budget: Budget, sync_price_per_page: float, batch_price_per_page: float,
                 send: Callable[[list[int]], None], annotated_prices: tuple[float, float] | None = None) -> int:
    """Held ranges that fit the budget now go back to the queue (batch ranges to the next batch job, the others
    to the workers through `send`). `annotated_prices`: (sync, batch) per annotated page. Returns how many."""
    with db.read_session() as s:
        held_ids = list(s.scalars(select(PageRange.id).where(PageRange.status == RangeStatus.held)))
    if not held_ids:
        return 0
    ready = []
    for ctx in range_budget(db, held_ids).values():
        price = batch_price_per_page if ctx.batch else sync_price_per_page
        if ctx.annotated and annotated_prices is not None:
            price = annotated_prices[1] if ctx.batch else annotated_prices[0]
        if budget.has_room(ctx.pages * price, ctx.job_id, ctx.job_limit_usd):
            ready.append(ctx)
    if not ready:
        return 0
    now = datetime.now(UTC)
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.id.in_([c.range_id for c in ready]),
                                          PageRange.status == RangeStatus.held)
                  .values(status=RangeStatus.queued, error=None, error_code=None, enqueued_at=now, not_before=None))
    send([c.range_id for c in ready if not c.batch])
    log.info("budget: %d held range(s) go on", len(ready))
    return len(ready)
