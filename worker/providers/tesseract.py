"""The local OCR provider: pages rendered with pypdfium2 (or read from the image), read by Tesseract, and
written as structured markdown with typed blocks, figures cut out as images, header/footer and confidence."""

from __future__ import annotations

from collections.abc import Sequence

from ..documents.render import DEFAULT_DPI, render_pages
from ..layout.markdown import PageOptions
from ..layout.page import crop_figures, fill_page
from ._tesseract import TesseractEngine
from .base import OcrPage, OcrResult, OcrUsage, SourceDocument

__all__ = ["TesseractProvider"]


class TesseractProvider:
    name = "tesseract"

    def __init__(self, lang: str = "eng", tessdata: str | None = None, dpi: int = DEFAULT_DPI,
                 options: PageOptions | None = None) -> None:
        self.lang = lang
        self.options = options or PageOptions()
        self.dpi = dpi
        self._tessdata = tessdata
        self._engine: TesseractEngine | None = None

    @property
    def model(self) -> str:
        return f"tesseract-{self.lang}"

    def _get_engine(self) -> TesseractEngine:
        # built on first use so a provider can be created in a parent process and used in a forked child
        if self._engine is None:
            self._engine = TesseractEngine(self.lang, self._tessdata)
        return self._engine

    def warm(self) -> None:
        """Load the engine and its language data now (a worker process calls this when it starts)."""
        self._get_engine()

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        engine = self._get_engine()
        results: list[OcrPage] = []
        for rendered in render_pages(source, pages, self.dpi):
            read = engine.read(rendered.image, rendered.dpi, self.options, rendered.index)
            width, height = read.image.size
            images = crop_figures(read.found, read.image)
            if read.image is not rendered.image:
                read.image.close()
            rendered.image.close()
            page = OcrPage(index=rendered.index, markdown="", images=images, width=width, height=height,
                           dpi=rendered.dpi, source=self.name, words=read.words)
            results.append(fill_page(page, read.found))
        return OcrResult(pages=results, model=self.model, usage=OcrUsage(pages_processed=len(results)))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
