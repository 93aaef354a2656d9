"""Turn pages of a stored document into images for an OCR engine, one page at a time (memory stays flat)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageSequence

from ..providers.base import SourceDocument
from .inspect import open_pdf

__all__ = ["RenderedPage", "render_pages", "page_dpi", "image_dpi", "DEFAULT_DPI", "MAX_RENDER_PIXELS"]

DEFAULT_DPI = 300
_FALLBACK_IMAGE_DPI = 300  # images without a dpi tag are usually scans at 300


@dataclass
class RenderedPage:
    index: int
    image: Image.Image
    dpi: int


# a scanned page whose only content is one upright full-page image is OCR'd from that image as stored: decoding
# it takes ~0.015 s where rendering the page at 300 dpi takes ~0.1 s (measured on 2550x3300 pages), a sixth of
# Tesseract's own time. Only plain 8-bit gray or RGB images at a usual scan resolution qualify; anything else
# (1-bit fax images with their decode quirks, CMYK, masks, odd resolutions) is rendered as usual.
_SCAN_DPI_RANGE = (200, 400)
_SCAN_COVERAGE = 0.98


# annotations that draw nothing on the page: a link's box and a note's popup window
_UNDRAWN_ANNOTS = (pdfium_c.FPDF_ANNOT_LINK, pdfium_c.FPDF_ANNOT_POPUP)


def _draws_annotations(page: pdfium.PdfPage) -> bool:
    """Whether annotations (filled form fields, free text, stamps) are drawn over the page's content."""
    for i in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, i)
        try:
            if annot and pdfium_c.FPDFAnnot_GetSubtype(annot) not in _UNDRAWN_ANNOTS:
                return True
        finally:
            if annot:
                pdfium_c.FPDFPage_CloseAnnot(annot)
    return False


def _scan_image(page: pdfium.PdfPage) -> tuple[Image.Image, int] | None:
    if page.get_rotation() != 0:
        return None
    objects = list(page.get_objects(max_depth=1))
    if len(objects) != 1 or objects[0].type != pdfium_c.FPDF_PAGEOBJ_IMAGE:
        return None
    if _draws_annotations(page):
        return None  # a scanned form filled in on screen: its values are drawn only when the page is rendered
    image = objects[0]
    assert isinstance(image, pdfium.PdfImage)
    a, b, c, d, _e, _f = image.get_matrix().get()
    if b or c or a <= 0 or d <= 0:
        return None  # rotated, sheared or flipped
    width_pt, height_pt = page.get_size()
    left, bottom, right, top = image.get_bounds()
    if (right - left) * (top - bottom) < _SCAN_COVERAGE * width_pt * height_pt:
        return None
    meta = image.get_metadata()
    if meta.bits_per_pixel not in (8, 24) or meta.colorspace not in (
        pdfium_c.FPDF_COLORSPACE_DEVICEGRAY, pdfium_c.FPDF_COLORSPACE_DEVICERGB,
    ):
        return None
    px_w, px_h = image.get_px_size()
    dpi_x, dpi_y = px_w / ((right - left) / 72), px_h / ((top - bottom) / 72)
    if abs(dpi_x - dpi_y) > 2 or not _SCAN_DPI_RANGE[0] <= dpi_x <= _SCAN_DPI_RANGE[1]:
        return None
    pil = image.get_bitmap(render=False).to_pil()
    if pil.mode not in ("L", "RGB"):
        return None
    return pil.copy(), int(round(dpi_x))


# a very large page (a poster, a drawing) is rendered at a lower dpi so it stays under this many pixels: at 300
# dpi an A0 sheet would take 139 MP (and Tesseract refuses sides over 32767 px)
MAX_RENDER_PIXELS = 60_000_000
_MAX_SIDE_PX = 30_000


def page_dpi(width_pt: float, height_pt: float, dpi: int) -> int:
    """`dpi`, or less for a page too large to render whole at it."""
    w_in, h_in = max(width_pt, 1.0) / 72, max(height_pt, 1.0) / 72
    fit = min((MAX_RENDER_PIXELS / (w_in * h_in)) ** 0.5, _MAX_SIDE_PX / max(w_in, h_in))
    return max(1, min(dpi, int(fit)))


def _pdf_pages(source: SourceDocument, pages: Sequence[int], dpi: int) -> Iterator[RenderedPage]:
    with open_pdf(source.path, source.password) as pdf:
        for index in pages:
            page = pdf[index]
            try:
                try:
                    scan = _scan_image(page)
                except pdfium.PdfiumError:
                    scan = None
                if scan is not None:
                    yield RenderedPage(index, scan[0], scan[1])
                    continue
                at = page_dpi(*page.get_size(), dpi)
                # filled form fields are drawn through the form environment open_pdf sets up
                bitmap = page.render(scale=at / 72, grayscale=True, may_draw_forms=True)
                image = bitmap.to_pil()
                # detach from the PDFium buffer so the bitmap can be freed now
                yield RenderedPage(index, image.copy(), at)
                bitmap.close()
            finally:
                page.close()


def image_dpi(im: Image.Image) -> int:
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
                dpi = image_dpi(frame)
                page = frame.convert("L") if frame.mode not in ("L", "RGB") else frame.copy()
                yield RenderedPage(i, page, dpi)
            if i >= max(wanted):
                break


def render_pages(source: SourceDocument, pages: Sequence[int], dpi: int = DEFAULT_DPI) -> Iterator[RenderedPage]:
    if source.kind == "pdf":
        return _pdf_pages(source, pages, dpi)
    return _image_pages(source, pages)
