"""A PDF page's own text layer: its quality checked, then markdown and embedded images taken from it.

Born-digital pages carry exact text, and reading it costs milliseconds instead of an OCR call. But a text layer
can be garbage (a font without a usable ToUnicode map yields control characters, `/g123` glyph names or a
shifted alphabet), and a scan can carry an invisible OCR layer of poor quality. `check_page` measures the page's
objects (pictures, hidden text) and scores its text with worker/documents/textlayer_score.py; `read_page`, when
the layer passes, returns its structured markdown (the layout stage of `worker.layout`: headings, paragraphs,
lists, tables, header/footer) and its embedded images (`worker.documents.pdf_images`) with bounding boxes in the
pixel coordinates of the page rendered at `dpi`, like the OCR providers return them. A page with no objects at
all is blank and passes with empty markdown.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..layout.from_pdfium import page_input as layout_input
from ..layout.markdown import PageMarkdown, PageOptions
from ..layout.model import Box, Figure, PageInput
from ..layout.page import plain_page, structured_page
from ..layout.pdf_chars import PdfChars, TurnedFrame, reading_turn
from ..layout.tables import ruled_tables
from ..providers.base import OcrImage
from .pdf_forms import page_form_text, with_form_lines
from .pdf_images import drawn_figures, page_images
from .textlayer_score import JOINED_HYPHEN, SCAN_IMAGE_COVER, TextLayerScore, score_text_layer

__all__ = ["TextLayerPage", "check_page", "read_page"]

log = logging.getLogger(__name__)

_STRIP = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_TEXT_RENDER_INVISIBLE = 3


@dataclass
class _PageObjects:
    count: int = 0
    text_objects: int = 0
    invisible_text: int = 0
    text_before_image: list[int] = field(default_factory=list)  # visible text objects drawn before each image
    images: list[pdfium.PdfImage] = field(default_factory=list)
    paths: list[pdfium.PdfObject] = field(default_factory=list)


def _page_objects(page: pdfium.PdfPage) -> _PageObjects:
    # top level only: bounds of objects nested in form XObjects are in the form's own space
    found = _PageObjects()
    for obj in page.get_objects(max_depth=1):
        found.count += 1
        if obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT:
            found.text_objects += 1
            if pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw) == _TEXT_RENDER_INVISIBLE:
                found.invisible_text += 1
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            found.images.append(obj)
            found.text_before_image.append(found.text_objects - found.invisible_text)
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_PATH:
            found.paths.append(obj)
    return found


def _image_cover(images: list[pdfium.PdfImage], width: float, height: float) -> float:
    area = 0.0
    for img in images:
        left, bottom, right, top = img.get_bounds()
        w = max(0.0, min(right, width) - max(left, 0.0))
        h = max(0.0, min(top, height) - max(bottom, 0.0))
        area += w * h
    return min(1.0, area / max(width * height, 1e-6))


def _hidden_text(objects: _PageObjects, width: float, height: float) -> int:
    """Text objects nobody sees: invisible ones, and visible ones a picture over most of the page hides."""
    covered = 0
    for img, before in zip(objects.images, objects.text_before_image):
        if _image_cover([img], width, height) >= SCAN_IMAGE_COVER:
            covered = max(covered, before)
    return objects.invisible_text + covered


def _check(page: pdfium.PdfPage, text: str, objects: _PageObjects) -> TextLayerScore:
    width, height = page.get_size()
    hidden = _hidden_text(objects, width, height)
    invisible = hidden / objects.text_objects if objects.text_objects else 0.0
    return score_text_layer(
        text,
        page_area_sq_in=width * height / 72**2,
        image_cover=_image_cover(objects.images, width, height),
        invisible=invisible,
        has_objects=objects.count > 0,
    )


def check_page(page: pdfium.PdfPage) -> TextLayerScore:
    """The quality check for one PDF page's text layer."""
    textpage = page.get_textpage()
    try:
        return _check(page, textpage.get_text_range(), _page_objects(page))
    finally:
        textpage.close()


def _box(im: OcrImage) -> tuple[int, int, int, int]:
    return (im.top_left_x or 0, im.top_left_y or 0, im.bottom_right_x or 0, im.bottom_right_y or 0)


def _drawings(page: pdfium.PdfPage, objects: _PageObjects, size_px: tuple[int, int], layout_in: PageInput,
              first: int) -> list[OcrImage]:
    """Vector charts and diagrams as pictures, unless they are a table's rules or hold a block of text."""
    words = [w.box for ln in layout_in.lines for w in ln.words]

    def words_in(box: tuple[int, int, int, int]) -> int:
        return sum(1 for w in words if box[0] <= w.cx <= box[2] and box[1] <= w.cy <= box[3])

    drawn = drawn_figures(page, objects.paths, size_px, words_in, first)
    if not drawn:
        return drawn
    # a ruled table's own lines make a region too: leave those to the table
    tables = [t.box for t in ruled_tables(layout_in.rules, [w for ln in layout_in.lines for w in ln.words],
                                          layout_in.dpi)]
    return [im for im in drawn if not any(Box(*_box(im)).overlaps(t) for t in tables)]


def _read_turned(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, dpi: int, size_px: tuple[int, int],
                 objects: _PageObjects, images: list[OcrImage], turn: int, options: PageOptions | None,
                 index: int) -> PageMarkdown:
    """A page whose text runs down or up (a landscape table on a portrait page): read turned, block boxes
    given back in the page's own frame. Vector drawings are not looked for as figures on such pages."""
    frame = TurnedFrame(page, size_px, turn)
    figures = [Figure(frame.into(Box(*_box(im))), image_id=im.id) for im in images]
    layout_in = layout_input(page, textpage, dpi, size_px, objects.paths, figures, turn)
    found = structured_page(layout_in, options, index=index)
    for block in found.blocks:
        if block.top_left_x is not None:
            x0, y0, x1, y1 = frame.back(Box(block.top_left_x, block.top_left_y or 0, block.bottom_right_x or 0,
                                            block.bottom_right_y or 0)).ints()
            block.top_left_x, block.top_left_y, block.bottom_right_x, block.bottom_right_y = x0, y0, x1, y1
    return found


@dataclass
class TextLayerPage:
    """One page read from its text layer (markdown and images only when the score passed)."""

    index: int
    score: TextLayerScore
    markdown: str = ""
    images: list[OcrImage] = field(default_factory=list)
    width: int = 0  # pixels at `dpi`, as the page would be rendered for OCR
    height: int = 0
    dpi: int = 300
    found: PageMarkdown | None = None  # blocks, tables, header, footer of the layout stage


def read_page(pdf: pdfium.PdfDocument, index: int, dpi: int = 300,
              options: PageOptions | None = None) -> TextLayerPage:
    """Check page `index`; when its layer passes, extract its structured markdown, blocks and images."""
    page = pdf[index]
    textpage = page.get_textpage()
    try:
        objects = _page_objects(page)
        score = _check(page, textpage.get_text_range(), objects)
        width_pt, height_pt = page.get_size()
        size_px = (round(width_pt * dpi / 72), round(height_pt * dpi / 72))
        result = TextLayerPage(index, score, width=size_px[0], height=size_px[1], dpi=dpi)
        # filled form values and free-text annotations are not in the text layer (worker/documents/pdf_forms.py)
        forms = page_form_text(pdf, page, textpage) if score.passed else []
        if score.passed and (not score.blank or forms):
            result.images = page_images(page, objects.images, size_px)
            turn = reading_turn(page, PdfChars(textpage), size_px)
            try:
                if turn:
                    found = _read_turned(page, textpage, dpi, size_px, objects, result.images, turn, options, index)
                else:
                    figures = [Figure(Box(*_box(im)), image_id=im.id) for im in result.images]
                    layout_in = layout_input(page, textpage, dpi, size_px, objects.paths, figures)
                    layout_in.lines = with_form_lines(layout_in.lines, forms, page, size_px)
                    drawn = _drawings(page, objects, size_px, layout_in, len(result.images))
                    result.images += drawn
                    layout_in.figures += [Figure(Box(*_box(im)), image_id=im.id) for im in drawn]
                    found = structured_page(layout_in, options, index=index)
                result.found = found
            except Exception as exc:  # the layer passed, so its text is kept even when reading its layout fails
                log.warning("text layer layout failed on page %s: %r", index, exc)
                result.found = plain_page(_STRIP.sub("", JOINED_HYPHEN.sub("", textpage.get_text_range())),
                                          f"layout analysis failed ({type(exc).__name__}); plain text kept")
            result.markdown = result.found.markdown
            placed = {img_id for img_id, _ in result.found.figures}
            # a picture the layout dropped (inside a table, say) is still the page's, placed at the end
            for im in result.images:
                if im.id not in placed and f"]({im.id})" not in result.markdown:
                    result.markdown += ("\n\n" if result.markdown else "") + f"![{im.id}]({im.id})"
                    result.found.markdown = result.markdown
        return result
    finally:
        textpage.close()
        page.close()
