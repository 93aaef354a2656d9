"""A page's layout input from a tesserocr API that has just run `Recognize()`: words with boxes and
confidences grouped in Tesseract's lines, row heights and baselines, picture blocks and ruling lines, and a
stroke width per line (Tesseract's LSTM gives no bold flag, but bold strokes are measurably wider)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from .bullets import BULLET, bullet_sized, mark_bullets
from .figures import ink_figures
from .model import Box, Figure, Line, PageInput, Word

__all__ = ["page_input"]

_MIN_FIGURE_IN = 0.5  # inches on each side: smaller "images" are specks, bullets and footnote symbols
_MIN_FIGURE_SQ_IN = 0.6
_SUP_MARKS = set("*†‡§¶")
_SPECKS = set("\"'.,`‘’“”:;|_-–—~")
_SPECK_CONF = 60.0


def _stroke(dark: np.ndarray, box: Box, size: float) -> float | None:
    """Mean horizontal stroke width inside `box`, as a share of the text size."""
    x0, y0, x1, y1 = (max(0, int(v)) for v in box.ints())
    crop = dark[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    ink = int(crop.sum())
    starts = int(np.count_nonzero(crop[:, 1:] & ~crop[:, :-1])) + int(crop[:, 0].sum())
    if starts == 0 or size <= 0:
        return None
    return ink / starts / size


def _text_size(attrs: dict[str, float], line_box: tuple[int, int, int, int] | None) -> float:
    """The line's x-height: Tesseract's row height less its ascender and descender parts. The row height alone
    jumps with one tall glyph or a speck above the line; the x-height stays put for one font size."""
    row = float(attrs.get("row_height") or 0)
    xheight = row - max(0.0, float(attrs.get("ascenders") or 0)) - abs(float(attrs.get("descenders") or 0))
    if xheight > 0.3 * row > 0:
        return xheight
    return row or float(line_box[3] - line_box[1] if line_box else 10)


def _superscripts(words: list[Word], baseline: float, size: float) -> None:
    for prev, w in zip(words, words[1:]):
        t = w.text
        if not (t.isdigit() and len(t) <= 2 or t and all(c in _SUP_MARKS for c in t)):
            continue
        if w.box.height < 0.7 * size and w.box.y1 < baseline - 0.3 * size and w.box.x0 - prev.box.x1 < 0.3 * size:
            w.sup = True


def _bullets(lines: list[Line], maybe: set[int]) -> list[Line]:
    """Bullet glyphs made `•` words at the start of their items (see `bullets`), then the kept specks that
    were not bullets dropped."""
    lines = mark_bullets(lines)
    if not maybe:
        return lines
    out: list[Line] = []
    for ln in lines:
        words = [w for w in ln.words if id(w) not in maybe or w.text == BULLET]
        if len(words) == len(ln.words):
            out.append(ln)
        elif words:
            out.append(Line(words, ln.size, ln.baseline, ln.bold, ln.stroke))
    return out


def page_input(api: Any, tess: Any, image: Image.Image, dpi: int) -> PageInput:
    ril, pt = tess.RIL, tess.PT
    width, height = image.size
    figures: list[Figure] = []
    rules: list[Box] = []
    it = api.GetIterator()
    if it is not None:
        for b in tess.iterate_level(it, ril.BLOCK):
            kind = b.BlockType()
            bb = b.BoundingBox(ril.BLOCK)
            if bb is None:
                continue
            box = Box(*bb)
            if kind in (pt.HORZ_LINE, pt.VERT_LINE):
                rules.append(box)
            elif kind in (pt.FLOWING_IMAGE, pt.HEADING_IMAGE, pt.PULLOUT_IMAGE):
                w_in, h_in = box.width / dpi, box.height / dpi
                if min(w_in, h_in) >= _MIN_FIGURE_IN and w_in * h_in >= _MIN_FIGURE_SQ_IN:
                    figures.append(Figure(box))
    gray = image if image.mode == "L" else image.convert("L")
    dark = np.asarray(gray) < 128
    lines: list[Line] = []
    current: list[Word] = []
    # bullet-sized specks kept only in case they are bullets (a bullet is often read as `.` or `-` with a low
    # confidence); those that do not turn out to be bullets go as the other specks did
    maybe_bullets: set[int] = set()
    size = baseline = 0.0

    def close() -> None:
        if current:
            _superscripts(current, baseline, size)
            box = current[0].box
            for w in current[1:]:
                box = box.union(w.box)
            lines.append(Line(list(current), size, baseline, stroke=_stroke(dark, box, size)))
            current.clear()

    it = api.GetIterator()
    if it is not None:
        for w in tess.iterate_level(it, ril.WORD):
            if w.IsAtBeginningOf(ril.TEXTLINE):
                close()
                attrs = w.RowAttributes() or {}
                base = w.Baseline(ril.TEXTLINE)
                line_box = w.BoundingBox(ril.TEXTLINE)
                size = _text_size(attrs, line_box)
                baseline = float((base[0][1] + base[1][1]) / 2) if base else float(line_box[3] if line_box else 0)
            try:
                text = w.GetUTF8Text(ril.WORD)
            except RuntimeError:  # tesserocr raises on an element without text (an empty page)
                continue
            bb = w.BoundingBox(ril.WORD)
            if not text or not text.strip() or bb is None:
                continue
            conf = float(w.Confidence(ril.WORD))
            tiny = max(bb[2] - bb[0], bb[3] - bb[1]) < 0.3 * size
            word = Word(text.strip(), Box(*bb), conf=conf)
            if (conf < _SPECK_CONF or tiny) and not (set(text.strip()) - _SPECKS):
                if not bullet_sized(word.box, size):
                    continue  # a speck of noise read as a quote mark, a dot or a rule
                maybe_bullets.add(id(word))
            current.append(word)
        close()
    lines = _bullets(lines, maybe_bullets)
    words = [w.box for ln in lines for w in ln.words]
    for box in ink_figures(dark, dpi, words, rules):
        if not any(f.box.overlaps(box) for f in figures):
            figures.append(Figure(box))
    return PageInput(width, height, dpi, lines, figures, rules)
