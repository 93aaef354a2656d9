"""Celery tasks: thin wrappers that carry ids and call the pipeline."""

from __future__ import annotations

import time
from typing import Any

from .celery_app import app
from .metrics import observe_range
from .budget_hold import run_within_budget
from .pipeline import RangeOutcome, run_range
from .vision_tasks import enqueue_after_range

__all__ = ["ocr_range", "enqueue_range"]


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
        )

    # a range that would cross a budget is held, not sent (worker/budget_hold.py)
    outcome = run_within_budget(res.db, res.budget, range_id, s.price_per_1000_pages / 1000, run,
                                lambda reason: RangeOutcome("held", message=reason))
    observe_range(res.db, res.provider.name, range_id, outcome.status, outcome.pages_written,
                  time.monotonic() - started)
    if outcome.status == "retry" and outcome.retry_in_s is not None:
        raise self.retry(countdown=outcome.retry_in_s)
    if outcome.status == "done":
        enqueue_after_range(range_id)  # describe the range's images (a no-op unless vision is configured)
    return outcome.status


def enqueue_range(range_id: int, countdown: float | None = None) -> None:
    ocr_range.apply_async(args=[range_id], queue=app.settings.queue, countdown=countdown)
