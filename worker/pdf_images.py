"""The pictures embedded in a PDF page, as a provider returns them: bytes and a box in page pixels."""

from __future__ import annotations

import ctypes
import io

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .providers.base import OcrImage

__all__ = ["page_images"]

_MIN_IMAGE_PX = 16  # rules, bullets and spacer pixels are not pictures


def _image_bytes(img: pdfium.PdfImage) -> tuple[bytes, str] | None:
    """JPEG streams as they are; anything else decoded by pdfium (JBIG2, CCITT, Flate...) and saved as PNG."""
    try:
        if img.get_filters(skip_simple=True) == ["DCTDecode"]:
            return bytes(img.get_data(decode_simple=True)), "jpeg"
        buf = io.BytesIO()
        img.get_bitmap(render=False).to_pil().save(buf, "PNG")
        return buf.getvalue(), "png"
    except (pdfium.PdfiumError, OSError, ValueError):
        return None  # an image pdfium cannot decode is left out of the page, as a provider would


def _to_pixels(page: pdfium.PdfPage, size_px: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    dx, dy = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, size_px[0], size_px[1], 0, x, y, dx, dy)
    return dx.value, dy.value


def page_images(page: pdfium.PdfPage, images: list[pdfium.PdfImage], size_px: tuple[int, int]) -> list[OcrImage]:
    out: list[OcrImage] = []
    for img in images:
        w, h = img.get_px_size()
        if min(w, h) < _MIN_IMAGE_PX:
            continue
        extracted = _image_bytes(img)
        if extracted is None:
            continue
        data, ext = extracted
        left, bottom, right, top = img.get_bounds()
        xa, ya = _to_pixels(page, size_px, left, top)
        xb, yb = _to_pixels(page, size_px, right, bottom)
        ocr_image = OcrImage(
            id=f"img-{len(out)}.{ext}",
            top_left_x=max(0, min(xa, xb)), top_left_y=max(0, min(ya, yb)),
            bottom_right_x=min(size_px[0], max(xa, xb)), bottom_right_y=min(size_px[1], max(ya, yb)),
            data=data,
        )
        out.append(ocr_image)
    return out
