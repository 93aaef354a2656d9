"""The pictures embedded in a PDF page as `pagemill serve` answers them, cut out by the one encoder
(`worker.documents.pdf_images.page_images`, the text layer's too) and then put in the Mistral shape.

A scanned page is itself one big image: pictures covering most of the page are the page, not a figure on
it, so they are left out. Coordinates are pixels of the page rendered at `dpi`, like `dimensions`. Mistral's
OCR answers every extracted picture as a JPEG (`img-0.jpeg`, `data:image/jpeg;base64,...`), so a picture the
encoder kept as PNG is re-encoded here; the data URI itself is built in `responses.py`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pypdfium2.raw as pdfium_c
from PIL import Image

from ..documents.inspect import open_pdf
from ..documents.mime import image_bytes_mime
from ..documents.pdf_images import page_images
from ..providers.base import OcrImage, OcrPage

__all__ = ["ImageOptions", "embedded_figures", "trim_figures"]

_PAGE_COVER_RATIO = 0.85  # an image over this share of the page area is the scan itself
_JPEG_QUALITY = 85


@dataclass(frozen=True)
class ImageOptions:
    wanted: bool = True  # False when image_limit is 0
    include_base64: bool = False
    min_size_px: int = 0


def _as_jpeg(data: bytes) -> bytes | None:
    if image_bytes_mime(data) == "image/jpeg":
        return data
    try:
        with Image.open(io.BytesIO(data)) as pil:
            buf = io.BytesIO()
            pil.convert("RGB").save(buf, "JPEG", quality=_JPEG_QUALITY)
            return buf.getvalue()
    except (OSError, ValueError):
        return None


def embedded_figures(path: Path, index: int, dpi: int, options: ImageOptions,
                     password: str | None = None) -> list[OcrImage]:
    """The figures on page `index`, top to bottom; ids are provisional (the response numbers them)."""
    if not options.wanted:
        return []
    with open_pdf(path, password) as pdf:
        page = pdf[index]
        try:
            width_pt, height_pt = page.get_size()
            size_px = (round(width_pt * dpi / 72), round(height_pt * dpi / 72))
            # top level only, as the text layer reads them: nested objects' bounds are in their form's space
            objects = list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=1))
            found = page_images(page, objects, size_px)  # type: ignore[arg-type]
        finally:
            page.close()
    page_area = size_px[0] * size_px[1]
    kept: list[OcrImage] = []
    for im in found:
        w = (im.bottom_right_x or 0) - (im.top_left_x or 0)
        h = (im.bottom_right_y or 0) - (im.top_left_y or 0)
        if w * h >= _PAGE_COVER_RATIO * page_area or min(w, h) < options.min_size_px:
            continue
        im.data = _as_jpeg(im.data) if options.include_base64 and im.data else None
        kept.append(im)
    kept.sort(key=lambda im: (im.top_left_y or 0, im.top_left_x or 0))
    for n, im in enumerate(kept):
        im.id = f"img-{n}.jpeg"  # named for what the answer holds, with or without the bytes
    return kept


def _big_enough(image: OcrImage, min_px: int) -> bool:
    if not min_px or image.top_left_x is None or image.bottom_right_x is None:
        return True
    return min(image.bottom_right_x - image.top_left_x, (image.bottom_right_y or 0) - (image.top_left_y or 0)) >= min_px


def trim_figures(page: OcrPage, options: ImageOptions) -> None:
    """The figures an engine cut out of the page, as the request asked: none at all with image_limit 0
    (their placeholders gone too), only those of image_min_size, the bytes only with include_image_base64."""
    if not options.wanted:
        for found in page.images:
            page.markdown = page.markdown.replace(f"![{found.id}]({found.id})", "")
        page.markdown = re.sub(r"\n{3,}", "\n\n", page.markdown).strip()
        page.images = []
        return
    page.images = [im for im in page.images if _big_enough(im, options.min_size_px)]
    if not options.include_base64:
        for im in page.images:
            im.data = None
