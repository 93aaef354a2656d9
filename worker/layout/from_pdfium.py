"""A page's layout input from its PDF text layer: pdfium's characters into words and lines with their font size,
weight and baseline, thin path objects as ruling lines, and the page's pictures as figures. Boxes are in the
pixels of the page rendered at `dpi`, as the OCR path has them.

pdfium marks a word it found hyphenated across two lines with U+FFFE (or U+0002); such a word is split at the
line end and flagged, so the paragraph joiner makes it whole without touching real hyphens.
"""

from __future__ import annotations

import ctypes
import statistics
from collections.abc import Iterable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .model import Box, Figure, Line, PageInput, Word

__all__ = ["page_input", "PixelMap"]

_HYPHEN_MARKS = {"\ufffe", "\x02", "\xad"}
_STRIP = {chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 0x7F, 0xFFFF)}
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")
_RULE_MAX_PT = 3.0
_RULE_MIN_PT = 8.0


class PixelMap:
    """PDF user space to the pixels of the page rendered at `dpi` (rotation and crop box included)."""

    def __init__(self, page: pdfium.PdfPage, size_px: tuple[int, int]) -> None:
        self.size_px = size_px
        o = self._device(page, 0, 0)
        ax = self._device(page, 1000, 0)
        ay = self._device(page, 0, 1000)
        self._o = o
        self._ax = ((ax[0] - o[0]) / 1000, (ax[1] - o[1]) / 1000)
        self._ay = ((ay[0] - o[0]) / 1000, (ay[1] - o[1]) / 1000)
        self.scale = (self._ax[0] ** 2 + self._ax[1] ** 2) ** 0.5

    def _device(self, page: pdfium.PdfPage, x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        # 100x the size, then divided, so the integers pdfium returns lose no precision
        w, h = self.size_px
        pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, w * 100, h * 100, 0, x, y, dx, dy)
        return dx.value / 100, dy.value / 100

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (self._o[0] + self._ax[0] * x + self._ay[0] * y, self._o[1] + self._ax[1] * x + self._ay[1] * y)

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        xa, ya = self.point(left, top)
        xb, yb = self.point(right, bottom)
        return Box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))


class _Chars:
    """Per-character facts read through pdfium's C API (the Python helpers do not expose font sizes)."""

    def __init__(self, textpage: pdfium.PdfTextPage) -> None:
        self.raw = textpage.raw
        self.count = pdfium_c.FPDFText_CountChars(self.raw)
        self._fonts: dict[int, bool] = {}
        self._l, self._r, self._b, self._t = (ctypes.c_double() for _ in range(4))
        self._x, self._y = ctypes.c_double(), ctypes.c_double()
        self._buf = ctypes.create_string_buffer(128)
        self._flags = ctypes.c_int()
        self._matrix = pdfium_c.FS_MATRIX()

    def char(self, i: int) -> str:
        return chr(pdfium_c.FPDFText_GetUnicode(self.raw, i))

    def box(self, i: int) -> tuple[float, float, float, float]:
        pdfium_c.FPDFText_GetCharBox(self.raw, i, self._l, self._r, self._b, self._t)
        return self._l.value, self._b.value, self._r.value, self._t.value

    def origin(self, i: int) -> tuple[float, float]:
        pdfium_c.FPDFText_GetCharOrigin(self.raw, i, self._x, self._y)
        return self._x.value, self._y.value

    def size(self, i: int) -> float:
        # the size set by Tf, scaled by the text and graphics matrices: many office PDFs set `1 Tf` and scale
        # the text matrix to the real size, so Tf alone would make every gap between letters look like a space
        pdfium_c.FPDFText_GetMatrix(self.raw, i, self._matrix)
        scale = (self._matrix.c ** 2 + self._matrix.d ** 2) ** 0.5 or 1.0
        return float(pdfium_c.FPDFText_GetFontSize(self.raw, i)) * scale

    def bold(self, i: int) -> bool:
        obj = pdfium_c.FPDFText_GetTextObject(self.raw, i)
        key = ctypes.cast(obj, ctypes.c_void_p).value or 0
        if key not in self._fonts:
            weight = pdfium_c.FPDFText_GetFontWeight(self.raw, i)
            pdfium_c.FPDFText_GetFontInfo(self.raw, i, self._buf, len(self._buf), self._flags)
            name = self._buf.value.decode("latin-1", "replace").lower()
            self._fonts[key] = weight >= 600 or any(b in name for b in _BOLD_NAMES) or bool(self._flags.value & 0x40000)
        return self._fonts[key]


class _WordBuilder:
    def __init__(self, px: PixelMap) -> None:
        self.px = px
        self.text = ""
        self.box: Box | None = None
        self.size = 0.0
        self.base = 0.0
        self.bold = False
        self.sup = False
        self.words: list[tuple[Word, float, float, bool]] = []  # word, size px, baseline px, bold

    def end(self, soft: bool = False) -> None:
        if self.text.strip() and self.box is not None:
            # pdfium hands characters outside the BMP over as two UTF-16 halves: make them one character
            text = self.text.strip().encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
            w = Word(text, self.box, sup=self.sup, soft_hyphen=soft)
            self.words.append((w, self.size, self.base, self.bold))
        self.text, self.box, self.sup = "", None, False

    def add(self, ch: str, box: Box, size: float, base: float, bold: bool, sup: bool) -> None:
        if self.box is not None:
            gap = box.x0 - self.box.x1
            if sup != self.sup or abs(base - self.base) > 0.5 * self.size or gap > 0.3 * self.size or gap < -self.size:
                self.end()
        if self.box is None:
            self.box, self.size, self.base, self.bold, self.sup = box, size, base, bold, sup
        else:
            self.box = self.box.union(box)
        self.text += ch


def _words(chars: _Chars, px: PixelMap) -> list[tuple[Word, float, float, bool]]:
    build = _WordBuilder(px)
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
        size = chars.size(i) * px.scale
        ox, oy = px.point(*chars.origin(i))
        left, bottom, right, top = chars.box(i)
        box = px.box(left, bottom, right, top)
        # a smaller character set above the line's baseline is a footnote mark or superscript
        sup = (line_base is not None and size < 0.9 * line_size and line_base - oy > 0.25 * line_size
               and abs(line_base - oy) < line_size)
        if not sup:
            if line_base is None or abs(oy - line_base) > 0.3 * max(size, line_size) or size > line_size:
                line_base, line_size = oy, size
        build.add(ch, box, size, line_base if sup and line_base is not None else oy, chars.bold(i), sup)
    build.end()
    return build.words


def _lines(words: list[tuple[Word, float, float, bool]]) -> list[Line]:
    lines: list[Line] = []
    cur: list[tuple[Word, float, float, bool]] = []

    def close() -> None:
        if cur:
            main = [c for c in cur if not c[0].sup] or cur
            size = statistics.median(c[1] for c in main)
            base = statistics.median(c[2] for c in main)
            bold = sum(1 for c in main if c[3]) > len(main) / 2
            lines.append(Line([c[0] for c in cur], size, base, bold))
            cur.clear()

    for entry in words:
        w, size, base, _ = entry
        if cur:
            last = cur[-1][0]
            ref = next((c for c in reversed(cur) if not c[0].sup), cur[-1])
            new_row = abs(base - ref[2]) > 0.5 * max(size, ref[1])
            if (new_row and not w.sup) or w.box.x0 < last.box.x1 - ref[1]:
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


def page_input(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, dpi: int, size_px: tuple[int, int],
               objects: list[pdfium.PdfObject], figures: list[Figure]) -> PageInput:
    px = PixelMap(page, size_px)
    lines = _lines(_words(_Chars(textpage), px))
    return PageInput(size_px[0], size_px[1], dpi, lines, figures, _rules(objects, px))
