"""PDFium's characters of a page, as the text-layer path reads them: each one's text, box, origin, size, weight
and direction, in the pixels of the page rendered at `dpi`.

Two facts decide whether the words built from them come out whole:
- **Size** is the size set by `Tf` scaled by the text and graphics matrices. Many office and government PDFs set
  `1 Tf` and scale the text matrix to the real size, so `Tf` alone makes every gap between letters look like a
  space.
- **Direction**: a character's baseline runs right, down, left or up on the rendered page. A page whose text
  mostly runs down or up (a landscape table on a page turned by `/Rotate`) is read in a frame turned so that its
  text runs right, as a person would turn the page (`reading_turn`).
"""

from __future__ import annotations

import ctypes
from collections import Counter

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .model import Box

__all__ = ["PixelMap", "PdfChars", "TurnedFrame", "reading_turn", "RIGHT", "DOWN", "LEFT", "UP"]

RIGHT, DOWN, LEFT, UP = 0, 1, 2, 3
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")
_TURN_FOR = {DOWN: 3, LEFT: 2, UP: 1}  # PDFium's rotate argument that makes text running that way run right
_TURN_SHARE = 0.6  # the share of characters that must run one way before the page is read turned
_TURN_SAMPLE = 300  # characters looked at: enough to tell a page's direction


class PixelMap:
    """PDF user space to the pixels of the page rendered at `dpi` (rotation and crop box included), turned
    clockwise by `turn` quarter turns beyond what the page itself asks (`size_px` is the turned size)."""

    def __init__(self, page: pdfium.PdfPage, size_px: tuple[int, int], turn: int = 0) -> None:
        self.size_px = size_px
        self.turn = turn
        o = self._device(page, 0, 0)
        ax = self._device(page, 1000, 0)
        ay = self._device(page, 0, 1000)
        self._o = o
        self._ax = ((ax[0] - o[0]) / 1000, (ax[1] - o[1]) / 1000)
        self._ay = ((ay[0] - o[0]) / 1000, (ay[1] - o[1]) / 1000)
        self.scale = (self._ax[0] ** 2 + self._ax[1] ** 2) ** 0.5
        # the linear part ((p, q), (r, s)) of `point`: a direction (x, y) maps to (p x + q y, r x + s y)
        self.axes = ((self._ax[0], self._ay[0]), (self._ax[1], self._ay[1]))

    def _device(self, page: pdfium.PdfPage, x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        # 100x the size, then divided, so the integers pdfium returns lose no precision
        w, h = self.size_px
        pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, w * 100, h * 100, self.turn, x, y, dx, dy)
        return dx.value / 100, dy.value / 100

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (self._o[0] + self._ax[0] * x + self._ay[0] * y, self._o[1] + self._ax[1] * x + self._ay[1] * y)

    def vector(self, x: float, y: float) -> tuple[float, float]:
        return (self._ax[0] * x + self._ay[0] * y, self._ax[1] * x + self._ay[1] * y)

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        return Box(*self.rect(left, bottom, right, top))

    def rect(self, left: float, bottom: float, right: float, top: float) -> tuple[float, float, float, float]:
        """`box` as a plain tuple (x0, y0, x1, y1): what the word builder keeps per character."""
        xa, ya = self.point(left, top)
        xb, yb = self.point(right, bottom)
        return (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))

    def user(self, x: float, y: float) -> tuple[float, float]:
        """The PDF user-space point at pixel (x, y): the inverse of `point`."""
        (a, b), (c, d) = self._ax, self._ay
        det = a * d - b * c
        x, y = x - self._o[0], y - self._o[1]
        return ((d * x - c * y) / det, (a * y - b * x) / det)


def _quadrant(dx: float, dy: float) -> int:
    if abs(dx) >= abs(dy):
        return RIGHT if dx >= 0 else LEFT
    return DOWN if dy > 0 else UP


class PdfChars:
    """Per-character facts read through pdfium's C API (the Python helpers expose neither font sizes nor the
    character matrix)."""

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

    def size_and_direction(self, i: int, px: PixelMap) -> tuple[float, int, bool]:
        """The character's size in pixels, the way its baseline runs on the page, and whether it is mirrored."""
        pdfium_c.FPDFText_GetMatrix(self.raw, i, self._matrix)
        m = self._matrix
        a, b, c, d = m.a, m.b, m.c, m.d
        scale = (c * c + d * d) ** 0.5 or 1.0
        size = pdfium_c.FPDFText_GetFontSize(self.raw, i) * scale * px.scale
        (p, q), (r, s) = px.axes
        ux, uy = p * a + q * b, r * a + s * b
        vx, vy = p * c + q * d, r * c + s * d
        # pixels run y down: an upright, unmirrored glyph has its up vector clockwise of its baseline
        mirrored = ux * vy - uy * vx > 0
        if ux >= 0 and ux >= abs(uy):  # most glyphs run right: no need for the general case
            return size, RIGHT, mirrored
        return size, _quadrant(ux, uy), mirrored

    def text_object(self, i: int) -> int:
        return ctypes.cast(pdfium_c.FPDFText_GetTextObject(self.raw, i), ctypes.c_void_p).value or 0

    def bold(self, i: int) -> bool:
        key = self.text_object(i)
        if key not in self._fonts:
            weight = pdfium_c.FPDFText_GetFontWeight(self.raw, i)
            pdfium_c.FPDFText_GetFontInfo(self.raw, i, self._buf, len(self._buf), self._flags)
            name = self._buf.value.decode("latin-1", "replace").lower()
            self._fonts[key] = weight >= 600 or any(b in name for b in _BOLD_NAMES) or bool(self._flags.value & 0x40000)
        return self._fonts[key]


def reading_turn(page: pdfium.PdfPage, chars: PdfChars, size_px: tuple[int, int]) -> int:
    """Quarter turns (PDFium's `rotate`) that make most of the page's text run left to right: 0 for almost
    every page. Mirrored glyphs do not vote: turning a page cannot unmirror them."""
    px = PixelMap(page, size_px)
    votes: Counter[int] = Counter()
    step = max(1, chars.count // _TURN_SAMPLE)
    for i in range(0, chars.count, step):
        if chars.char(i).isspace():
            continue
        _size, quadrant, mirrored = chars.size_and_direction(i, px)
        if not mirrored:
            votes[quadrant] += 1
    total = sum(votes.values())
    if not total:
        return 0
    way, count = votes.most_common(1)[0]
    return _TURN_FOR.get(way, 0) if count >= _TURN_SHARE * total else 0


class TurnedFrame:
    """Pixels of the page as rendered to pixels of the same page turned so its text runs left to right, and
    back: the layout is read turned, and what it reports is stored in the page's own frame."""

    def __init__(self, page: pdfium.PdfPage, size_px: tuple[int, int], turn: int) -> None:
        self.flat = PixelMap(page, size_px)
        self.turned = PixelMap(page, (size_px[1], size_px[0]) if turn % 2 else size_px, turn)

    @staticmethod
    def _map(box: Box, src: PixelMap, dst: PixelMap) -> Box:
        a = dst.point(*src.user(box.x0, box.y0))
        b = dst.point(*src.user(box.x1, box.y1))
        return Box(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))

    def into(self, box: Box) -> Box:
        return self._map(box, self.flat, self.turned)

    def back(self, box: Box) -> Box:
        return self._map(box, self.turned, self.flat)
