"""A page's layout written into an `OcrPage`, with a plain-text fallback when the layout stage fails.

The fallback keeps the engine's text (lines joined, paragraphs as the engine found them) and adds a note, as
an HTML comment that markdown viewers hide, so a page is never lost to a layout bug.
"""

from __future__ import annotations

import io
import logging

from PIL import Image

from ..providers.base import OcrBlock, OcrImage, OcrPage
from .markdown import PageMarkdown, PageOptions, write_page
from .model import PageInput
from .structure import analyse

__all__ = ["structured_page", "fill_page", "crop_figures", "plain_page"]

log = logging.getLogger(__name__)


def plain_page(text: str, note: str) -> PageMarkdown:
    text = text.strip()
    markdown = (text + "\n\n" if text else "") + f"<!-- pagemill: {note} -->"
    return PageMarkdown(markdown, [OcrBlock(type="text", content=text)] if text else [])


def structured_page(page: PageInput, options: PageOptions | None = None, first_image: int = 0,
                    index: int | None = None) -> PageMarkdown:
    """Markdown and blocks for `page`; on any failure of the layout stage, its plain text and a note."""
    try:
        return write_page(analyse(page), options, first_image)
    except Exception as exc:  # a layout bug must cost the structure of one page, never its text
        log.warning("layout failed on page %s, keeping its plain text: %r", index, exc)
        text = "\n".join(ln.text for ln in page.lines)
        return plain_page(text, f"layout analysis failed ({type(exc).__name__}); plain text kept")


def crop_figures(found: PageMarkdown, image: Image.Image) -> list[OcrImage]:
    """The figures of an OCR'd page cut out of its picture, saved as PNG."""
    out: list[OcrImage] = []
    for image_id, fig in found.figures:
        x0, y0, x1, y1 = fig.box.ints()
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(image.width, x1), min(image.height, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        buf = io.BytesIO()
        image.crop((x0, y0, x1, y1)).save(buf, "PNG", optimize=False, compress_level=3)
        out.append(OcrImage(id=image_id, top_left_x=x0, top_left_y=y0, bottom_right_x=x1, bottom_right_y=y1,
                            data=buf.getvalue()))
    return out


def fill_page(page: OcrPage, found: PageMarkdown) -> OcrPage:
    page.markdown = found.markdown
    page.blocks = found.blocks or None
    page.tables = found.tables
    page.header = found.header
    page.footer = found.footer
    page.confidence = found.confidence
    return page
