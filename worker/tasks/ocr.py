"""Celery tasks: thin wrappers that carry ids and call the pipeline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from ..budget.hold import run_within_budget
from ..budget.prices import reserve_prices
from ..extraction.tasks import enqueue_after_range as extract_after_range
from ..metrics import observe_range
from ..ranges.run import database_away, run_range
from ..ranges.types import RangeOutcome
from ..vision.tasks import enqueue_after_range
from .app import app

__all__ = ["ocr_range", "enqueue_range", "enqueue_ranges"]


@app.task(name="pagemill.ocr_range", bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def ocr_range(self: Any, range_id: int) -> str:
    res = app.resources()
    s = res.settings
    started = time.monotonic()

    def run() -> RangeOutcome:
        return run_range(
            res.db,
            res.objects,
            res.provider,
            range_id,
            worker_id=str(self.request.hostname or "worker"),
            max_attempts=s.max_attempts,
            lease_s=s.lease_s,
            retry_base_s=s.retry_base_s,
            retry_max_s=s.retry_max_s,
            cost_per_page_usd=s.price_per_1000_pages / 1000,
            leases=res.leases,
            annotated_cost_per_page_usd=s.annotated_price_per_1000_pages / 1000,
            retry_window_s=s.retry_window_s,
        )

    # a range that would cross a budget is held, not sent (worker/budget/hold.py)
    per_page, annotated = reserve_prices(s)  # tokens for vlm, pages for Mistral (worker/budget/prices.py)
    try:
        outcome = run_within_budget(res.db, res.budget, range_id, per_page, run,
                                    lambda reason: RangeOutcome("held", message=reason),
                                    annotated_price_per_page_usd=annotated)
        observe_range(res.db, res.provider.name, range_id, outcome.status, outcome.pages_written,
                      time.monotonic() - started)
    except (OperationalError, DBAPIError) as exc:
        # the budget's queries around the range (or the metrics after it) met a database outage: retry the task
        # later, as run_range does for its own queries, instead of failing it with a traceback and waiting for
        # the sweep to queue the range again (seen in the soak's PostgreSQL cuts)
        outcome = database_away(exc, 1, s.retry_base_s, s.retry_max_s)
    if outcome.status == "retry" and outcome.retry_in_s is not None:
        raise self.retry(countdown=outcome.retry_in_s)
    if outcome.status == "done":
        enqueue_after_range(range_id)  # describe the range's images (a no-op unless vision is configured)
    if outcome.wants_fields and outcome.status in ("done", "failed"):
        extract_after_range(range_id)  # the document's fields once it is finished (a no-op without a schema)
    return outcome.status


def enqueue_range(range_id: int, countdown: float | None = None) -> None:
    ocr_range.apply_async(args=[range_id], queue=app.settings.queue, countdown=countdown)


def enqueue_ranges(range_ids: Sequence[int]) -> None:
    """Send many range messages at once through kombu's `Producer.batch`: on Redis in pipelines, on the embedded
    broker in one transaction per 1,000 messages (worker/tasks/broker.py).

    Sent one by one, a message costs a round trip to Redis, or on kombu's SQLAlchemy transport a commit of its own
    (a write transaction and its fsyncs). The queue is declared once for the batch rather than checked for every
    message, and the argument's repr is given rather than computed through Celery's saferepr.
    """
    if not range_ids:
        return
    queue = app.amqp.queues[app.settings.queue]
    with app.producer_or_acquire() as producer:
        producer.maybe_declare(queue)
        with producer.batch():  # kombu flushes every 1,000 messages: a Redis pipeline or a transaction each
            for range_id in range_ids:
                ocr_range.apply_async(args=[range_id], queue=queue, producer=producer, declare=[],
                                      argsrepr=f"[{range_id}]", kwargsrepr="{}")
