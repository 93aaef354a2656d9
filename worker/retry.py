"""The retry policy in one place: exponential backoff with full jitter."""

from __future__ import annotations

import random

__all__ = ["backoff_s"]


def backoff_s(attempt: int, base_s: float = 2.0, max_s: float = 300.0) -> float:
    """Seconds to wait before attempt `attempt + 1`: uniform in [0, min(max_s, base_s * 2**(attempt-1))]."""
    ceiling = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return random.uniform(0, ceiling)
