"""Turn pages of a stored document into images for an OCR engine, one page at a time (memory stays flat)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, ImageSequence

from .documents import open_pdf
from .providers.base import SourceDocument

__all__ = ["RenderedPage", "render_pages", "DEFAULT_DPI"]

DEFAULT_DPI = 300
_FALLBACK_IMAGE_DPI = 300  # images without a dpi tag are usually scans at 300


@dataclass
class RenderedPage:
    index: int
    image: Image.Image
    dpi: int


def _pdf_pages(source: SourceDocument, pages: Sequence[int], dpi: int) -> Iterator[RenderedPage]:
    with open_pdf(source.path, source.password) as pdf:
        for index in pages:
            page = pdf[index]
            try:
                bitmap = page.render(scale=dpi / 72, grayscale=True)
                image = bitmap.to_pil()
                # detach from the PDFium buffer so the bitmap can be freed now
                yield RenderedPage(index, image.copy(), dpi)
                bitmap.close()
            finally:
                page.close()


def _image_dpi(im: Image.Image) -> int:
    dpi = im.info.get("dpi")
    if dpi:
        try:
            value = int(round(float(dpi[0])))
            if 50 <= value <= 2400:
                return value
        except (TypeError, ValueError, IndexError):
            pass
    return _FALLBACK_IMAGE_DPI


def _image_pages(source: SourceDocument, pages: Sequence[int]) -> Iterator[RenderedPage]:
    wanted = set(pages)
    with Image.open(source.path) as im:
        for i, frame in enumerate(ImageSequence.Iterator(im)):
            if i in wanted:
                dpi = _image_dpi(frame)
                page = frame.convert("L") if frame.mode not in ("L", "RGB") else frame.copy()
                yield RenderedPage(i, page, dpi)
            if i >= max(wanted):
                break


def render_pages(source: SourceDocument, pages: Sequence[int], dpi: int = DEFAULT_DPI) -> Iterator[RenderedPage]:
    if source.kind == "pdf":
        return _pdf_pages(source, pages, dpi)
    return _image_pages(source, pages)
