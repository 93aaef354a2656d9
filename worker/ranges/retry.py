"""The retry policy in one place: exponential backoff with full jitter."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["backoff_s", "call_with_retries"]

T = TypeVar("T")
log = logging.getLogger("pagemill.worker")


def backoff_s(attempt: int, base_s: float = 2.0, max_s: float = 300.0) -> float:
    """Seconds to wait before attempt `attempt + 1`: uniform in [0, min(max_s, base_s * 2**(attempt-1))]."""
    ceiling = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return random.uniform(0, ceiling)


def call_with_retries(
    call: Callable[[], T], attempts: int = 4, base_s: float = 2.0, max_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()` retried in this thread (the CLI's way; Celery tasks retry with a countdown instead): a retryable
    PagemillError (429, 5xx, timeouts) waits its Retry-After or a backoff, whichever is longer; anything else,
    and the last attempt's error, is raised."""
    from models.errors import PagemillError

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except PagemillError as err:
            if not err.retryable or attempt == attempts:
                raise
            hinted = getattr(err, "retry_after_s", None)
            wait = max(backoff_s(attempt, base_s, max_s), float(hinted or 0.0))
            log.warning("%s; trying again in %.1f s", err.message, wait)
            sleep(min(wait, max_s))
    raise AssertionError("unreachable")
