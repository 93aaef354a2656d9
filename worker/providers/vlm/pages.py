"""Pages rendered for a vision model: in colour, at the size the profile asks for (reference/vlm-ocr.md:
"render at the model's size, not smaller"), and encoded as a data URI.

PDFium is not thread-safe (worker/documents/inspect.py holds one lock while a document is open), so a range's
pages are rendered one after another here, then sent concurrently.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PIL import Image, ImageSequence

from ...documents.inspect import open_pdf
from ..base import SourceDocument
from .profiles.base import Size

__all__ = ["PageImage", "render_for_model", "encode", "turn"]

_MAX_PIXELS = 40_000_000


@dataclass
class PageImage:
    index: int
    image: Image.Image  # RGB
    dpi: int


def _pdf(source: SourceDocument, pages: Sequence[int], size: Size) -> Iterator[PageImage]:
    with open_pdf(source.path, source.password) as pdf:
        for index in pages:
            page = pdf[index]
            try:
                w_pt, h_pt = page.get_size()
                scale = size.scale(w_pt, h_pt)
                if w_pt * h_pt * scale * scale > _MAX_PIXELS:
                    scale = (_MAX_PIXELS / (w_pt * h_pt)) ** 0.5
                bitmap = page.render(scale=scale, may_draw_forms=True)
                image = bitmap.to_pil().convert("RGB")
                bitmap.close()
                yield PageImage(index, image, max(1, int(round(scale * 72))))
            finally:
                page.close()


def _images(source: SourceDocument, pages: Sequence[int], size: Size) -> Iterator[PageImage]:
    wanted = set(pages)
    with Image.open(source.path) as im:
        for i, frame in enumerate(ImageSequence.Iterator(im)):
            if i in wanted:
                picture = frame.convert("RGB")
                info_dpi = frame.info.get("dpi") or (300, 300)
                try:
                    src_dpi = float(info_dpi[0]) or 300.0
                except (TypeError, ValueError, IndexError):
                    src_dpi = 300.0
                w_pt, h_pt = picture.width / src_dpi * 72, picture.height / src_dpi * 72
                factor = size.scale(w_pt, h_pt) * 72 / src_dpi
                if abs(factor - 1) > 0.02:
                    new = (max(1, round(picture.width * factor)), max(1, round(picture.height * factor)))
                    picture = picture.resize(new, Image.Resampling.LANCZOS)
                yield PageImage(i, picture, max(1, int(round(src_dpi * factor))))
            if i >= max(wanted):
                break


def render_for_model(source: SourceDocument, pages: Sequence[int], size: Size) -> Iterator[PageImage]:
    """The pages one by one (the caller sends each as it comes; the PDF stays open, and PDFium locked, until
    the last is rendered)."""
    if not pages:
        return iter(())
    if source.kind == "pdf":
        return _pdf(source, pages, size)
    return _images(source, pages, size)


def _gray(image: Image.Image) -> bool:
    """Every pixel of a sample has R = G = B: a gray page, sent as one channel (a third of the bytes)."""
    small = image.resize((max(1, image.width // 8), max(1, image.height // 8)), Image.Resampling.NEAREST)
    r, g, b = small.split()
    return r.tobytes() == g.tobytes() == b.tobytes()


def encode(image: Image.Image, fmt: str = "png") -> str:
    buf = io.BytesIO()
    if image.mode == "RGB" and _gray(image):
        image = image.convert("L")
    if fmt == "jpeg":
        image.save(buf, "JPEG", quality=90)
        mime = "image/jpeg"
    else:
        image.save(buf, "PNG", compress_level=1)  # 2x faster than 6, ~10 % larger
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def turn(image: Image.Image, degrees: int) -> Image.Image:
    """The page turned `degrees` clockwise (olmOCR's rotation_correction)."""
    return image.rotate(-degrees, expand=True) if degrees % 360 else image
