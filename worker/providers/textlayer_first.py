"""Text layer first: a wrapper around any OCR provider that reads good PDF text layers instead of OCRing them.

Modes (PAGEMILL_TEXT_LAYER, `--text-layer`):
- `auto`: pages whose text layer passes `worker.documents.textlayer` 's quality check come from the layer (source
  `text_layer`); the other pages go to the wrapped provider in one call. A document whose pages all pass
  never reaches the provider: no request, no cost. The default with the local engine.
- `never`: always OCR (the wrapper is not used). The default with the Mistral provider, whose markdown keeps
  tables and headings.
- `only`: never OCR. A range holding any page without a good text layer (or an image document) fails with
  a per-range `input` error naming the pages and why their layer was refused, so nothing is lost silently;
  `pagemill retry` under `--text-layer auto` OCRs them later.

Usage and billing only ever count the wrapped provider's pages.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.errors import InputError

from ..documents.inspect import open_pdf
from ..documents.textlayer import TextLayerPage, read_page
from ..layout.markdown import PageOptions
from ..layout.page import fill_page
from .base import OcrPage, OcrProvider, OcrResult, OcrUsage, SourceDocument

__all__ = ["TextLayerFirst", "TEXT_LAYER_MODES", "TEXT_LAYER_SOURCE", "TEXT_LAYER_MODEL"]

TEXT_LAYER_MODES = ("auto", "never", "only")
TEXT_LAYER_SOURCE = "text_layer"
TEXT_LAYER_MODEL = "pdfium-text-layer"


def _as_ocr_page(page: TextLayerPage) -> OcrPage:
    out = OcrPage(
        index=page.index,
        markdown=page.markdown,
        images=page.images,
        width=page.width,
        height=page.height,
        dpi=page.dpi,
        source=TEXT_LAYER_SOURCE,
    )
    if page.found is not None:
        fill_page(out, page.found)
    return out


class TextLayerFirst:
    """An `OcrProvider` that answers from PDF text layers where they are good and asks `inner` otherwise."""

    def __init__(self, inner: OcrProvider, mode: str = "auto", dpi: int = 300,
                 options: PageOptions | None = None) -> None:
        if mode not in ("auto", "only"):
            raise ValueError(f"TextLayerFirst needs mode auto or only, not {mode!r}")
        self.inner = inner
        self.mode = mode
        self.dpi = dpi
        self.options = options
        self.name = inner.name  # usage rows and OCR'd pages keep the real provider's name

    def _read_layers(self, source: SourceDocument, pages: Sequence[int]) -> list[TextLayerPage]:
        with open_pdf(source.path, source.password) as pdf:
            return [read_page(pdf, index, self.dpi, self.options) for index in pages]

    def _refuse(self, source: SourceDocument, refused: list[TextLayerPage]) -> InputError:
        if source.kind != "pdf":
            return InputError("an image has no text layer, and --text-layer only never OCRs; use auto or never")
        first = refused[0]
        listed = ", ".join(str(p.index) for p in refused[:10]) + (" ..." if len(refused) > 10 else "")
        return InputError(
            f"page(s) {listed} have no usable text layer (page {first.index}: {first.score.describe()}),"
            " and --text-layer only never OCRs; run them again with --text-layer auto"
        )

    def warm(self) -> None:
        warm = getattr(self.inner, "warm", None)
        if callable(warm):
            warm()

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        if source.kind != "pdf":
            if self.mode == "only":
                raise self._refuse(source, [])
            return self.inner.ocr(source, pages)
        layers = self._read_layers(source, pages)
        good = [p for p in layers if p.score.passed]
        rest = [p for p in layers if not p.score.passed]
        if rest and self.mode == "only":
            raise self._refuse(source, rest)
        result_pages = [_as_ocr_page(p) for p in good]
        if not rest:
            return OcrResult(pages=result_pages, model=TEXT_LAYER_MODEL, usage=OcrUsage(pages_processed=0))
        inner = self.inner.ocr(source, [p.index for p in rest])
        result_pages.extend(inner.pages)
        result_pages.sort(key=lambda p: p.index)
        return OcrResult(pages=result_pages, model=inner.model, usage=inner.usage, billed=inner.billed,
                         document_annotation=inner.document_annotation)

    def close(self) -> None:
        self.inner.close()
