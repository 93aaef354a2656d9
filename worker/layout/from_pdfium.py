"""A page's layout input from its PDF text layer: pdfium's characters into words and lines with their font size,
weight and baseline, thin path objects as ruling lines, and the page's pictures as figures. Boxes are in the
pixels of the page rendered at `dpi`, as the OCR path has them (in a turned frame when the page's text runs
down or up: `pdf_chars.reading_turn`).

Words are where PDFium puts them. PDFium writes a space (flagged as generated) wherever the gap between two
glyphs is wider than the font's space, taking character spacing (`Tc`), horizontal scaling (`Tz`), kerning and
the glyphs' advance widths into account, and it puts right-to-left text in logical order. So a word ends at a
space or a line end in PDFium's text, and otherwise only at a gap far wider than any letter spacing (a table's
column gap with no space drawn), a change of direction, baseline or superscript. Letter-spaced titles, text
placed glyph by glyph, CID and Type 3 fonts all come out as PDFium reads them: whole words.

pdfium marks a word it found hyphenated across two lines with U+FFFE (or U+0002); such a word is split at the
line end and flagged, so the paragraph joiner makes it whole without touching real hyphens.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .model import Box, Figure, Line, PageInput, Word
from .pdf_chars import DOWN, LEFT, RIGHT, UP, PdfChars, PixelMap

__all__ = ["page_input", "turned_size"]

_HYPHEN_MARKS = {"\ufffe", "\x02", "\xad"}
_STRIP = {chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 0x7F, 0xFFFF)}
_RULE_MAX_PT = 3.0
_RULE_MIN_PT = 8.0
# a gap between two glyphs, in font sizes, that splits a word even where PDFium wrote no space
_COLUMN_GAP = 0.8


@dataclass
class _Built:
    word: Word
    size: float  # pixels
    base: float  # the baseline: y for text running right or left, x for text running down or up
    bold: bool
    way: int  # RIGHT, DOWN, LEFT or UP
    rtl: bool  # the word is in a right-to-left script: PDFium gives it in logical order, placed leftwards


def _is_rtl(text: str) -> bool:
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


Rect = tuple[float, float, float, float]  # x0, y0, x1, y1: a character's box (a Box only once a word is whole)


class _WordBuilder:
    def __init__(self, chars: PdfChars) -> None:
        self.chars = chars
        self.text = ""
        self.rect: list[float] | None = None  # the word's box so far, grown in place (no object per letter)
        self.size = 0.0
        self.base = 0.0
        self.bold = False
        self.sup = False
        self.way = RIGHT
        self.last: Rect = (0.0, 0.0, 0.0, 0.0)  # the box of the last character added
        self.last_i = 0  # and its index
        self.words: list[_Built] = []

    def end(self, soft: bool = False) -> None:
        if self.text.strip() and self.rect is not None:
            # pdfium hands characters outside the BMP over as two UTF-16 halves: make them one character
            text = self.text.strip().encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
            w = Word(text, Box(*self.rect), sup=self.sup, soft_hyphen=soft)
            self.words.append(_Built(w, self.size, self.base, self.bold, self.way, _is_rtl(text)))
        self.text, self.rect, self.sup = "", None, False

    def add(self, i: int, ch: str, rect: Rect, size: float, base: float, sup: bool, way: int) -> None:
        if self.rect is not None and (sup != self.sup or way != self.way or self._apart(rect, size, base)):
            self.end()
        if self.rect is None:
            # a word's weight is its first letter's (asked once a word: the font lookup is the costly part)
            bold = way in (RIGHT, LEFT) and self.chars.bold(i)
            self.rect, self.size, self.base, self.bold, self.sup, self.way = list(rect), size, base, bold, sup, way
        elif ch == self.text[-1:] and self._same_place(rect, size) and self._other_object(i):
            return  # the same glyph drawn again over itself by another text object (fake bold, a shadow)
        else:
            # (the letters of a ligature, "ffi", share one box but one text object: they all stay)
            r = self.rect
            r[0], r[1], r[2], r[3] = min(r[0], rect[0]), min(r[1], rect[1]), max(r[2], rect[2]), max(r[3], rect[3])
        self.last, self.last_i = rect, i
        self.text += ch

    def _other_object(self, i: int) -> bool:
        return self.chars.text_object(i) != self.chars.text_object(self.last_i)

    def _apart(self, rect: Rect, size: float, base: float) -> bool:
        """Another baseline, or a gap no space marks that is far wider than letter spacing. The gap is measured
        on either side, so text set right to left or mirrored stays whole too."""
        if abs(base - self.base) > 0.5 * max(size, self.size):
            return True
        k = 0 if self.way in (RIGHT, LEFT) else 1  # along x, or along y for text running down or up
        a0, a1, b0, b1 = rect[k], rect[k + 2], self.last[k], self.last[k + 2]
        return max(a0 - b1, b0 - a1) > _COLUMN_GAP * max(size, self.size)

    def _same_place(self, rect: Rect, size: float) -> bool:
        tol = 0.1 * size
        b = self.last
        return abs(rect[0] - b[0]) < tol and abs(rect[1] - b[1]) < tol and abs(rect[2] - b[2]) < tol


def _words(chars: PdfChars, px: PixelMap) -> list[_Built]:
    build = _WordBuilder(chars)
    line_base: float | None = None
    line_size = 0.0
    for i in range(chars.count):
        ch = chars.char(i)
        if ch in _HYPHEN_MARKS:
            if build.text:
                build.text += "-"
            build.end(soft=True)
            continue
        if ch.isspace() or ch in _STRIP:
            build.end()
            continue
        size, way, _mirrored = chars.size_and_direction(i, px)
        ox, oy = px.point(*chars.origin(i))
        box = px.rect(*chars.box(i))
        if way not in (RIGHT, LEFT):
            build.add(i, ch, box, size, ox, False, way)
            continue
        # a smaller character set above the line's baseline is a footnote mark or superscript
        sup = (line_base is not None and size < 0.9 * line_size and line_base - oy > 0.25 * line_size
               and abs(line_base - oy) < line_size)
        if not sup:
            if line_base is None or abs(oy - line_base) > 0.3 * max(size, line_size) or size > line_size:
                line_base, line_size = oy, size
        base = line_base if sup and line_base is not None else oy
        build.add(i, ch, box, size, base, sup, way)
    build.end()
    return build.words


def _continues(w: _Built, last: _Built, ref: _Built) -> bool:
    """Does word `w` continue the line whose last word is `last` (`ref`: its last word that is no superscript)?"""
    if (w.way in (RIGHT, LEFT)) != (ref.way in (RIGHT, LEFT)):
        return False
    if abs(w.base - ref.base) > 0.5 * max(w.size, ref.size) and not w.word.sup:
        return False
    if w.way in (DOWN, UP):
        return True
    if w.word.box.x0 >= last.word.box.x1 - ref.size:
        return True
    # right-to-left words come in logical order, each to the left of the one before
    return (w.rtl or w.way == LEFT) and (last.rtl or last.way == LEFT) and w.word.box.x1 <= last.word.box.x0 + ref.size


def _lines(words: list[_Built]) -> list[Line]:
    lines: list[Line] = []
    cur: list[_Built] = []

    def close() -> None:
        if cur:
            main = [c for c in cur if not c.word.sup] or cur
            size = statistics.median(c.size for c in main)
            bold = sum(1 for c in main if c.bold) > len(main) / 2
            words = [c.word for c in cur]
            if main[0].way in (DOWN, UP):
                # text set sideways in a margin: a line of its own, standing where it is on the page
                base = max(w.box.y1 for w in words)
            else:
                base = statistics.median(c.base for c in main)
            lines.append(Line(words, size, base, bold))
            cur.clear()

    for entry in words:
        if cur:
            ref = next((c for c in reversed(cur) if not c.word.sup), cur[-1])
            if not _continues(entry, cur[-1], ref):
                close()
        cur.append(entry)
    close()
    return lines


def _rules(objects: Iterable[pdfium.PdfObject], px: PixelMap) -> list[Box]:
    rules: list[Box] = []
    for obj in objects:
        if obj.type not in (pdfium_c.FPDF_PAGEOBJ_PATH,):
            continue
        try:
            left, bottom, right, top = obj.get_bounds()
        except pdfium.PdfiumError:
            continue
        w, h = right - left, top - bottom
        if (h <= _RULE_MAX_PT and w >= _RULE_MIN_PT) or (w <= _RULE_MAX_PT and h >= _RULE_MIN_PT):
            rules.append(px.box(left, bottom, right, top))
    return rules


def turned_size(size_px: tuple[int, int], turn: int) -> tuple[int, int]:
    return (size_px[1], size_px[0]) if turn % 2 else size_px


def page_input(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, dpi: int, size_px: tuple[int, int],
               objects: list[pdfium.PdfObject], figures: list[Figure], turn: int = 0) -> PageInput:
    """The page's layout input; with `turn`, in the frame turned by that many quarter turns (`size_px` is the
    page's size as rendered, unturned; `figures` must already be in the turned frame)."""
    size = turned_size(size_px, turn)
    px = PixelMap(page, size, turn)
    lines = _lines(_words(PdfChars(textpage), px))
    return PageInput(size[0], size[1], dpi, lines, figures, _rules(objects, px))
