"""The pictures embedded in a PDF page, as a provider returns them: bytes and a box in page pixels."""

from __future__ import annotations

import ctypes
import io
from collections.abc import Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..providers.base import OcrImage

__all__ = ["page_images", "drawn_figures"]

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


# vector drawings (charts, diagrams) have no image object: their path objects are grouped into regions, and a
# region large enough, holding few words, is rendered as a picture of its own
_MIN_DRAWING_PT = 36.0
_MAX_PATHS = 5000
_MAX_DRAWING_WORDS = 40


def _cluster(boxes: list[tuple[float, float, float, float]], pad: float) -> list[list[float]]:
    regions: list[list[float]] = []
    for left, bottom, right, top in sorted(boxes):
        for r in regions:
            if left - pad <= r[2] and r[0] - pad <= right and bottom - pad <= r[3] and r[1] - pad <= top:
                r[0], r[1], r[2], r[3] = min(r[0], left), min(r[1], bottom), max(r[2], right), max(r[3], top)
                break
        else:
            regions.append([left, bottom, right, top])
    merged = True
    while merged:  # regions grown by later boxes may now touch
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                a, b = regions[i], regions[j]
                if a[0] - pad <= b[2] and b[0] - pad <= a[2] and a[1] - pad <= b[3] and b[1] - pad <= a[3]:
                    regions[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    return regions


def drawn_figures(page: pdfium.PdfPage, paths: list[pdfium.PdfObject], size_px: tuple[int, int],
                  words_in: Callable[[tuple[int, int, int, int]], int], first: int) -> list[OcrImage]:
    """Vector drawings on the page, rendered; `words_in(box)` counts the text-layer words inside a pixel box."""
    if not paths or len(paths) > _MAX_PATHS:
        return []
    boxes: list[tuple[float, float, float, float]] = []
    for obj in paths:
        try:
            left, bottom, right, top = obj.get_bounds()
        except pdfium.PdfiumError:
            continue
        if min(right - left, top - bottom) <= 3.0 and max(right - left, top - bottom) > 0:
            boxes.append((left, bottom, right, top))  # a rule: part of a drawing only next to other parts
        elif right > left and top > bottom:
            boxes.append((left, bottom, right, top))
    out: list[OcrImage] = []
    width_pt, height_pt = page.get_size()
    scale = size_px[0] / width_pt
    for left, bottom, right, top in _cluster(boxes, pad=4.0):
        if min(right - left, top - bottom) < _MIN_DRAWING_PT:
            continue
        if (right - left) * (top - bottom) > 0.8 * width_pt * height_pt:
            continue  # a page frame or background
        xa, ya = _to_pixels(page, size_px, left, top)
        xb, yb = _to_pixels(page, size_px, right, bottom)
        box = (max(0, min(xa, xb)), max(0, min(ya, yb)), min(size_px[0], max(xa, xb)), min(size_px[1], max(ya, yb)))
        if words_in(box) > _MAX_DRAWING_WORDS:
            continue  # a framed block of text or a shaded table, not a picture
        # a drawing may reach past the page's edges (a form's frame, a bleed): render only what is on the page
        left, bottom = max(0.0, left), max(0.0, bottom)
        right, top = min(width_pt, right), min(height_pt, top)
        if right - left < 1 or top - bottom < 1:
            continue
        try:
            crop = (left, bottom, width_pt - right, height_pt - top)
            pil = page.render(scale=scale, crop=crop).to_pil()
        except (pdfium.PdfiumError, ValueError):
            continue
        buf = io.BytesIO()
        pil.convert("RGB").save(buf, "PNG")
        out.append(OcrImage(id=f"img-{first + len(out)}.png", top_left_x=box[0], top_left_y=box[1],
                            bottom_right_x=box[2], bottom_right_y=box[3], data=buf.getvalue()))
    return out
