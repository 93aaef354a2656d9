"""A PDF page's own text layer: a quality check, then markdown and embedded images taken from it.

Born-digital pages carry exact text, and reading it costs milliseconds instead of an OCR call. But a text layer
can be garbage (a font without a usable ToUnicode map yields control characters, `/g123` glyph names or a
shifted alphabet), and a scan can carry an invisible OCR layer of poor quality. `score_text_layer` decides
whether a layer is trusted; `read_page` scores a page and, when it passes, returns its structured markdown
(the layout stage of `worker.layout`: headings, paragraphs, lists, tables, header/footer) and its embedded images
(`worker.documents.pdf_images`) with bounding boxes in the pixel coordinates of the page rendered at `dpi`, like the OCR
providers return them.

The score (0..1) is the product of
    printable share x (1 - 10 x garbage share) x word-like share x scan factor
where the scan factor is 1 unless images cover most of the page and the text on it is hidden (drawn invisibly,
or under the picture: an OCR layer), and then the text density (characters per square inch) against
`SCAN_MIN_DENSITY`. No part of the check depends on a language: garbage is judged by what it looks like in any
script (control, private-use and replacement characters, glyph names, a mix of unrelated scripts inside one
word, a Latin alphabet mapped to the wrong letters). A layer passes at `PASS_THRESHOLD`; an invisible layer over a
full-page picture (an earlier OCR) must reach `OCR_LAYER_THRESHOLD`. A page with no objects at all is blank
and passes with empty markdown.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

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
from .wordlike import is_wordlike

__all__ = [
    "TextLayerScore",
    "TextLayerPage",
    "score_text_layer",
    "check_page",
    "read_page",
    "PASS_THRESHOLD",
    "OCR_LAYER_THRESHOLD",
    "SCAN_MIN_DENSITY",
]

log = logging.getLogger(__name__)

PASS_THRESHOLD = 0.6
OCR_LAYER_THRESHOLD = 0.8
# a text page holds 20-40 characters per square inch; an OCR layer that found less than this on a
# full-page picture missed most of the page
SCAN_MIN_DENSITY = 10.0
_SCAN_IMAGE_COVER = 0.5
_TEXT_RENDER_INVISIBLE = 3

_BAD_CHARS = {"\ufffd", "\ufffe", "\uffff"}
_ALLOWED_FORMAT = {"\xad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}  # soft hyphen, zero-width marks
_GLYPH_NAMES = re.compile(r"(?:/(?:g|cid|glyph|uni)[0-9A-Fa-f]+|\(cid:\d+\))+")
_EDGE_PUNCT = "\"'.,;:!?()[]<>«»“”„‘’‚—–-…*•·§¶"
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
# web and mail addresses are not words but are what such pages print
_ADDRESS = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_PUNCT_RUN = re.compile(r"[^\w]+")
_PARTS = re.compile(r"[^\W\d_]+")
_NUMBER = re.compile(r"[#$€£¥+\-]?(?=[\w.,:/%+\-]*\d)[\w.,:/%+\-]+")
# pdfium writes U+FFFE where it joined a word hyphenated across two lines
_JOINED_HYPHEN = re.compile(r"(?<=[^\W\d_])\ufffe(?=[^\W\d_])")
_STRIP = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


@dataclass(frozen=True)
class TextLayerScore:
    """The components of the check, the score made from them and the threshold it must reach."""

    chars: int  # non-whitespace characters in the layer
    printable: float  # share of those that are printable (no control, private-use or unassigned codes)
    garbage_runs: int  # runs of control characters and of glyph names such as /g123 or (cid:42)
    garbage_share: float  # share of the characters inside such runs
    word_share: float  # share of token characters in word-like tokens (words, numbers, codes)
    density: float  # characters per square inch of page
    image_cover: float  # share of the page area under images
    # share of text objects a viewer cannot see: drawn invisibly (render mode 3) or under a picture that
    # covers most of the page, the two ways OCR tools lay their text over a scan
    invisible: float
    score: float
    threshold: float
    blank: bool = False  # no text and nothing drawn: an empty page

    @property
    def passed(self) -> bool:
        return self.blank or self.score >= self.threshold

    def reasons(self) -> list[str]:
        """Why the layer is not trusted, in words (empty when it passes)."""
        if self.passed:
            return []
        if self.chars == 0:
            return ["no text layer"]
        out: list[str] = []
        if self.printable < 0.98 or self.garbage_runs:
            out.append(f"{self.garbage_runs} runs of control characters or glyph names")
        if self.word_share < 0.75:
            out.append(f"only {self.word_share:.0%} of the text looks like words")
        if self.image_cover >= _SCAN_IMAGE_COVER and self.density < SCAN_MIN_DENSITY:
            out.append(f"a scanned page with a sparse text layer ({self.density:.1f} characters per square inch)")
        return out or [f"score {self.score:.2f} under {self.threshold:.2f}"]

    def describe(self) -> str:
        verdict = "blank page" if self.blank else ("good" if self.passed else "; ".join(self.reasons()))
        return f"text layer score {self.score:.2f} (threshold {self.threshold:.2f}): {verdict}"


def _is_bad_char(ch: str) -> bool:
    if ch in _BAD_CHARS:
        return True
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn", "Cs") and ch not in _ALLOWED_FORMAT


def _garbage(text: str) -> tuple[int, int]:
    """(runs, characters) of control characters and of glyph-name sequences."""
    runs = chars = 0
    in_run = False
    for ch in text:
        if ch.isspace():
            in_run = False
            continue
        if _is_bad_char(ch):
            chars += 1
            runs += not in_run
            in_run = True
        else:
            in_run = False
    for m in _GLYPH_NAMES.finditer(text):
        runs += 1
        chars += len(m.group())
    return runs, chars


# scripts written together in one word: Chinese, Japanese and Korean text mixes ideographs with kana or hangul
_SCRIPT_GROUPS = {"CJK": "east-asian", "HIRAGANA": "east-asian", "KATAKANA": "east-asian", "HANGUL": "east-asian",
                  "IDEOGRAPHIC": "east-asian", "HALFWIDTH": "east-asian", "FULLWIDTH": "latin", "LATIN": "latin"}


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    try:
        first = unicodedata.name(ch).split()[0]
    except ValueError:
        return "unknown"
    return _SCRIPT_GROUPS.get(first, first.lower())


def _latin_is_wordlike(part: str) -> bool:
    accented = sum(1 for ch in part if ord(ch) > 0x7F)
    # text decoded with the wrong single-byte encoding (Cyrillic or Greek read as Latin-1, say) comes out as
    # runs of accented letters: no language spells most of a long word with them
    if len(part) >= 4 and accented > len(part) / 2:
        return False
    return is_wordlike(part)


def _token_is_wordlike(core: str) -> bool:
    """Word-like in any script. Latin-script words are checked against letter-bigram statistics, which catch
    a font whose glyphs map to the wrong letters (a shifted or permuted alphabet). Words in other scripts have
    no such model here; what marks garbage in them is a mix of unrelated scripts inside one word, since a
    broken font maps its glyph codes onto whatever code points they happen to hit. Control, private-use and
    replacement characters count against the page in `_garbage`, whatever the script."""
    if _WORD.fullmatch(core):
        scripts = {_script(ch) for ch in core if ch.isalpha()}
        others = scripts - {"latin"}
        if len(others) > 1 or "unknown" in others:
            return False
        latin = [p for p in _PARTS.findall(core) if all(_script(ch) == "latin" for ch in p)]
        if not latin:
            return True
        parts = [p for p in latin if len(p) > 1] or latin
        return all(_latin_is_wordlike(p) for p in parts)
    return bool(_NUMBER.fullmatch(core))


def _pieces(token: str) -> list[str]:
    """A token in a script without spaces cut at its punctuation: Chinese and Japanese write no spaces, so a
    line is one token with its commas, full stops and brackets (、，。：（）) inside it."""
    if token.isascii():
        return [token]
    return [p for p in _PUNCT_RUN.split(token) if p]


def _word_share(text: str) -> float:
    good = total = 0
    for token in text.split():
        for piece in _pieces(token):
            core = piece.strip(_EDGE_PUNCT)
            if not core:
                continue  # a dash or a bullet on its own says nothing
            total += len(core)
            if _token_is_wordlike(core) or _ADDRESS.fullmatch(core):
                good += len(core)
    return good / total if total else 0.0


def score_text_layer(
    text: str,
    page_area_sq_in: float,
    image_cover: float = 0.0,
    invisible: float = 0.0,
    has_objects: bool = True,
) -> TextLayerScore:
    """Score a page's extracted text. `image_cover` and `invisible` come from the page's objects."""
    text = _JOINED_HYPHEN.sub("", text)
    visible = [ch for ch in text if not ch.isspace()]
    n = len(visible)
    if n == 0:
        return TextLayerScore(0, 0.0, 0, 0.0, 0.0, 0.0, image_cover, invisible, 0.0 if has_objects else 1.0,
                              PASS_THRESHOLD, blank=not has_objects)
    printable = sum(1 for ch in visible if not _is_bad_char(ch)) / n
    runs, garbage_chars = _garbage(text)
    garbage_share = min(1.0, garbage_chars / n)
    words = _word_share(_GLYPH_NAMES.sub(" ", text))
    density = n / max(page_area_sq_in, 1e-6)
    score = printable * max(0.0, 1.0 - 10.0 * garbage_share) * words
    # a picture covering the page with text nobody sees is a scan with an OCR layer: judged as OCR. Visible
    # text printed over a picture (a background, a letterhead, a form) is the page's own text.
    scan_like = image_cover >= _SCAN_IMAGE_COVER and invisible >= 0.5
    if scan_like:
        score *= min(1.0, density / SCAN_MIN_DENSITY)
    threshold = OCR_LAYER_THRESHOLD if scan_like else PASS_THRESHOLD
    return TextLayerScore(n, printable, runs, garbage_share, words, density, image_cover, invisible,
                          round(score, 4), threshold)


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
        if _image_cover([img], width, height) >= _SCAN_IMAGE_COVER:
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
                result.found = plain_page(_STRIP.sub("", _JOINED_HYPHEN.sub("", textpage.get_text_range())),
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
