"""Fault-injection OCR providers for the crash tests, registered only inside test worker processes.

`slowfake` reads nothing: each page becomes `fake page N` plus one small PNG, after `PAGEMILL_TEST_PAGE_DELAY_S`
of "work", so a range is slow enough to kill in the middle. Every answer is billed (one usage row per range),
so the ledger shows whether an interrupted call was billed. `PAGEMILL_TEST_FAIL_PAGES=3,7` makes a range that
contains one of those pages fail with an engine error; `PAGEMILL_TEST_CRASH_PAGES` kills the worker process
instead (a poison range). `PAGEMILL_TEST_LEAK_PAGES` puts MISTRAL_API_KEY into an error (odd pages) or an
unexpected exception's traceback (even pages), to prove it is redacted everywhere.
"""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Sequence

from PIL import Image

from models.errors import EngineError
from worker.providers.base import OcrImage, OcrPage, OcrResult, OcrUsage, SourceDocument

__all__ = ["SlowFakeProvider", "register", "page_png"]


def _pages_env(name: str) -> set[int]:
    return {int(p) for p in os.environ.get(name, "").split(",") if p.strip().isdigit()}


def page_png(index: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), index % 256).save(buf, "PNG")
    return buf.getvalue()


class SlowFakeProvider:
    name = "slowfake"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        out: list[OcrPage] = []
        for i in pages:
            if i in _pages_env("PAGEMILL_TEST_CRASH_PAGES"):
                os.kill(os.getpid(), signal.SIGKILL)
            if i in _pages_env("PAGEMILL_TEST_LEAK_PAGES"):  # a careless provider: the key in its errors
                key = os.environ.get("MISTRAL_API_KEY", "")
                if i % 2:
                    raise EngineError(f"the service refused Authorization: Bearer {key}")
                raise RuntimeError(f"unexpected reply to key={key}")
            if i in _pages_env("PAGEMILL_TEST_FAIL_PAGES"):
                raise EngineError(f"the engine could not read page {i}")
            time.sleep(self.delay_s)
            image = OcrImage(id="img-0.png", data=page_png(i), top_left_x=0, top_left_y=0,
                             bottom_right_x=8, bottom_right_y=8)
            out.append(OcrPage(index=i, markdown=f"fake page {i}\n\n![img-0.png](img-0.png)", images=[image],
                               source=self.name))
        return OcrResult(pages=out, model="slowfake-1", usage=OcrUsage(pages_processed=len(out)), billed=True)

    def close(self) -> None:
        pass


def register() -> None:
    from worker.providers import PROVIDERS

    PROVIDERS["slowfake"] = lambda _settings: SlowFakeProvider(
        float(os.environ.get("PAGEMILL_TEST_PAGE_DELAY_S", "0.2"))
    )
