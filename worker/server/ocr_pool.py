"""A pool of OCR processes, one local engine each, shared fairly by concurrent requests.

Pages are the unit of work: each request keeps at most `size` of its pages in the pool at once, so a
1000-page document interleaves with a one-page request instead of blocking it until the end. Requests over
`size + max_queue` in flight are refused (429) with a Retry-After estimated from recent page times.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..providers.base import OcrPage, SourceDocument
from ..providers.tesseract import TesseractProvider
from .admission import Admission, Ticket
from .errors import ApiError
from .figures import ImageOptions, embedded_figures, trim_figures

__all__ = ["EngineOptions", "OcrPool", "Ticket"]

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
        trim_figures(page, images)
    return page


def _warm() -> str:
    return _engine.model if _engine else ""


class OcrPool(Admission):
    def __init__(self, size: int, max_queue: int, options: EngineOptions) -> None:
        super().__init__(size, max_queue)
        self.options = options
        self.model = f"tesseract-{options.lang}"
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server process runs threads (uvicorn, the test harness) that fork would copy
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.size, mp_context=ctx, initializer=_init_process,
                                   initargs=(self.options,))

    def warm_up(self) -> None:
        """Start every process and load its engine now, so the first request does not pay for it."""
        for f in [self._executor.submit(_warm) for _ in range(self.size)]:
            f.result()

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
                self.timed(time.monotonic() - started)
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
