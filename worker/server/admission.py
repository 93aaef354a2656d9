"""Admission of `/v1/ocr` requests, shared by whatever reads the pages (the local pool or a configured provider).

At most `size + max_queue` requests are in flight; the next gets a 429 with a Retry-After estimated from the
pages still to read and recent page times, so a client backs off instead of piling up.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .errors import ApiError

__all__ = ["Admission", "Ticket"]

_INITIAL_PAGE_S = 2.0  # a guess for Retry-After until the first pages are timed


class Ticket:
    """One admitted request; `remaining` counts its pages not yet read."""

    def __init__(self, pages: int) -> None:
        self.remaining = pages


class Admission:
    def __init__(self, size: int, max_queue: int) -> None:
        self.size = size
        self.max_queue = max_queue
        # requests admitted and not finished (touched only on the event loop)
        self._tickets: set[Ticket] = set()
        self._page_s = _INITIAL_PAGE_S

    def timed(self, seconds_per_page: float) -> None:
        """Fold a measured time per page into the Retry-After estimate."""
        self._page_s = 0.8 * self._page_s + 0.2 * seconds_per_page

    def retry_after_s(self) -> int:
        pending = sum(t.remaining for t in self._tickets)
        return max(1, math.ceil(pending * self._page_s / self.size))

    @asynccontextmanager
    async def admit(self, pages: int) -> AsyncIterator[Ticket]:
        """A place for a request of `pages` pages, or a 429 when too many are in flight."""
        if len(self._tickets) >= self.size + self.max_queue:
            raise ApiError(429, f"Too many requests queued ({len(self._tickets)} in flight, max queue "
                           f"{self.max_queue}); retry later", "rate_limited", "1300",
                           {"Retry-After": str(self.retry_after_s())})
        ticket = Ticket(pages)
        self._tickets.add(ticket)
        try:
            yield ticket
        finally:
            self._tickets.discard(ticket)
