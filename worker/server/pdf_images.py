"""Pictures embedded in a PDF page, cut out with their bounding box, as the Mistral API returns them.

A scanned page is itself one big image: pictures covering most of the page are the page, not a figure on
it, so they are left out. Coordinates are pixels of the page rendered at `dpi`, like `dimensions`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..documents.inspect import open_pdf
from ..providers.base import OcrImage

__all__ = ["ImageOptions", "page_images"]

_PAGE_COVER_RATIO = 0.85  # an image over this share of the page area is the scan itself


@dataclass(frozen=True)
class ImageOptions:
    wanted: bool = True  # False when image_limit is 0
    include_base64: bool = False
    min_size_px: int = 0


def _encode(image: pdfium.PdfImage) -> bytes | None:
    try:
        bitmap = image.get_bitmap(render=False)
        pil = bitmap.to_pil()
    except pdfium.PdfiumError:
        return None
    buf = io.BytesIO()
    pil.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def page_images(path: Path, index: int, dpi: int, options: ImageOptions,
                password: str | None = None) -> list[OcrImage]:
    """The figures on page `index`, top to bottom; ids are provisional (the caller numbers them)."""
    if not options.wanted:
        return []
    scale = dpi / 72
    found: list[OcrImage] = []
    with open_pdf(path, password) as pdf:
        page = pdf[index]
        try:
            page_w, page_h = page.get_size()
            for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                left, bottom, right, top = obj.get_bounds()
                if (right - left) * (top - bottom) >= _PAGE_COVER_RATIO * page_w * page_h:
                    continue
                box = (round(left * scale), round((page_h - top) * scale),
                       round(right * scale), round((page_h - bottom) * scale))
                if min(box[2] - box[0], box[3] - box[1]) < options.min_size_px:
                    continue
                assert isinstance(obj, pdfium.PdfImage)
                data = _encode(obj) if options.include_base64 else None
                found.append(OcrImage(id="", top_left_x=box[0], top_left_y=box[1], bottom_right_x=box[2],
                                      bottom_right_y=box[3], data=data))
        finally:
            page.close()
    found.sort(key=lambda im: (im.top_left_y or 0, im.top_left_x or 0))
    return found
