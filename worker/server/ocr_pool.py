"""A pool of OCR processes, one local engine each, shared fairly by concurrent requests.

Pages are the unit of work: each request keeps at most `size` of its pages in the pool at once, so a
1000-page document interleaves with a one-page request instead of blocking it until the end. Requests over
`size + max_queue` in flight are refused (429) with a Retry-After estimated from recent page times.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import re
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..providers.base import OcrImage, OcrPage, SourceDocument
from ..providers.tesseract import TesseractProvider
from .errors import ApiError
from .figures import ImageOptions, embedded_figures

__all__ = ["EngineOptions", "OcrPool", "Ticket"]

_INITIAL_PAGE_S = 2.0  # a guess for Retry-After until the first pages are timed


@dataclass(frozen=True)
class EngineOptions:
    lang: str = "eng"
    tessdata: str | None = None
    dpi: int = 300


# One engine per pool process: tesserocr's API is not thread-safe and costs ~0.2 s to load, so each
# process builds it once in the initializer. This lives only in the pool's child processes.
_engine: TesseractProvider | None = None


def _init_process(options: EngineOptions) -> None:
    global _engine
    _engine = TesseractProvider(lang=options.lang, tessdata=options.tessdata, dpi=options.dpi)
    _engine.warm()


def _ocr_page(source: SourceDocument, index: int, images: ImageOptions) -> OcrPage:
    assert _engine is not None, "the pool initializer did not run"
    page = _engine.ocr(source, [index]).pages[0]
    embedded = (embedded_figures(source.path, index, _engine.dpi, images, source.password)
                if source.kind == "pdf" else [])
    if embedded or not images.wanted:
        # the PDF's own pictures beat the engine's crops of them; and with image_limit 0 there are none at all
        for found in page.images:
            page.markdown = page.markdown.replace(f"![{found.id}]({found.id})", "")
        page.markdown = re.sub(r"\n{3,}", "\n\n", page.markdown).strip()
        page.images = embedded
    else:
        page.images = [im for im in page.images if _big_enough(im, images.min_size_px)]
        if not images.include_base64:
            for im in page.images:
                im.data = None
    return page


def _big_enough(image: OcrImage, min_px: int) -> bool:
    if not min_px or image.top_left_x is None or image.bottom_right_x is None:
        return True
    return min(image.bottom_right_x - image.top_left_x, (image.bottom_right_y or 0) - (image.top_left_y or 0)) >= min_px


def _warm() -> str:
    return _engine.model if _engine else ""


class Ticket:
    """One admitted request; `remaining` counts its pages not yet read."""

    def __init__(self, pages: int) -> None:
        self.remaining = pages


class OcrPool:
    def __init__(self, size: int, max_queue: int, options: EngineOptions) -> None:
        self.size = size
        self.max_queue = max_queue
        self.options = options
        self.model = f"tesseract-{options.lang}"
        self._executor = self._new_executor()
        # requests admitted and not finished (touched only on the event loop)
        self._tickets: set[Ticket] = set()
        self._page_s = _INITIAL_PAGE_S

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server process runs threads (uvicorn, the test harness) that fork would copy
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.size, mp_context=ctx, initializer=_init_process,
                                   initargs=(self.options,))

    def warm_up(self) -> None:
        """Start every process and load its engine now, so the first request does not pay for it."""
        for f in [self._executor.submit(_warm) for _ in range(self.size)]:
            f.result()

    def retry_after_s(self) -> int:
        pending = sum(t.remaining for t in self._tickets)
        return max(1, math.ceil(pending * self._page_s / self.size))

    @asynccontextmanager
    async def admit(self, pages: int) -> AsyncIterator[Ticket]:
        """A place in the pool for a request of `pages` pages, or a 429 when too many are in flight."""
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

    async def ocr(self, ticket: Ticket, source: SourceDocument, pages: Sequence[int],
                  images: ImageOptions) -> list[OcrPage]:
        """The pages in the order asked, each read by a pool process."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.size)
        executor = self._executor

        async def one(index: int) -> OcrPage:
            async with gate:
                started = time.monotonic()
                page = await loop.run_in_executor(executor, _ocr_page, source, index, images)
                self._page_s = 0.8 * self._page_s + 0.2 * (time.monotonic() - started)
                ticket.remaining -= 1
                return page

        tasks = [asyncio.ensure_future(one(i)) for i in pages]
        try:
            return list(await asyncio.gather(*tasks))
        except BrokenProcessPool:
            self._restart(executor)
            raise ApiError(503, "an OCR process died; the pool was restarted, retry the request",
                           "server_error", "3000", {"Retry-After": "1"}) from None
        finally:
            for t in tasks:
                t.cancel()  # pages not yet sent to the pool are dropped when one page failed

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
