"""The invisible text layer of one page of a searchable PDF (scheduler/export/pdf.py writes the document): where
the words go (a corrected page's lines as bands, the local engine's word boxes, a provider's blocks, or the text
spread across the page), and reportlab drawing them in render mode 3, one text matrix per word so each word sits
on its box's baseline and spans its width, in Helvetica (a standard font: nothing embedded).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models.tables import Page, PageBlock
from worker.layout.word_boxes import StoredLine, read_words

__all__ = ["Matrix", "PageText", "draw_layer", "page_text", "pixels_to_pdf", "plain_lines"]

_FONT = "Helvetica"
# Helvetica's metrics (per 1000 units of the font size): the height of capitals and ascenders, the descent
_ASCENT = 0.718
_DESCENT = 0.207
Matrix = tuple[float, float, float, float, float, float]  # PDF order: x' = a x + c y + e, y' = b x + d y + f


# --- geometry -------------------------------------------------------------------------------------------------

def _then(m1: Matrix, m2: Matrix) -> Matrix:
    """m1 applied first, then m2."""
    a1, b1, c1, d1, e1, f1 = m1
    a2, b2, c2, d2, e2, f2 = m2
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2, c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


def pixels_to_pdf(width_px: float, height_px: float, turned: int, w_pt: float, h_pt: float,
                   rotate: int) -> Matrix:
    """From the pixels the boxes are in (the image the engine read, turned upright by `turned` degrees) to the
    page's unrotated user space (origin at its crop box's corner), for a page shown turned by /Rotate."""
    # the upright image back to the image as rendered (PIL's ROTATE_90 turned it counter-clockwise)
    turned %= 360
    if turned == 90:  # upright is W' x H' = H x W: x = W - y', y = x'
        back: Matrix = (0, 1, -1, 0, height_px, 0)
        rw, rh = height_px, width_px
    elif turned == 270:  # x = y', y = H - x'
        back = (0, -1, 1, 0, 0, width_px)
        rw, rh = height_px, width_px
    elif turned == 180:
        back = (-1, 0, 0, -1, width_px, height_px)
        rw, rh = width_px, height_px
    else:
        back = (1, 0, 0, 1, 0, 0)
        rw, rh = width_px, height_px
    to_unit: Matrix = (1 / rw, 0, 0, 1 / rh, 0, 0)  # u, v in 0..1, v down, of the page as displayed
    rotate %= 360
    if rotate == 90:  # X = v w, Y = u h
        display: Matrix = (0, h_pt, w_pt, 0, 0, 0)
    elif rotate == 180:  # X = (1 - u) w, Y = v h
        display = (-w_pt, 0, 0, h_pt, w_pt, 0)
    elif rotate == 270:  # X = (1 - v) w, Y = (1 - u) h
        display = (0, -h_pt, -w_pt, 0, w_pt, h_pt)
    else:  # X = u w, Y = (1 - v) h
        display = (w_pt, 0, 0, -h_pt, 0, h_pt)
    return _then(_then(back, to_unit), display)


# --- what to lay on a page ------------------------------------------------------------------------------------

@dataclass
class _Run:
    """Text on one baseline: from (x0, baseline) to x1 in pixels, glyphs `size` pixels high (font size)."""

    text: str
    x0: float
    x1: float
    baseline: float
    size: float
    stretch: bool = True  # scaled to span x0..x1; otherwise only shrunk when too wide


_IMAGE_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)")
_TAGS = re.compile(r"</?[a-zA-Z][^>]*>")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LEADING = re.compile(r"^\s*(#{1,6}\s+|>\s*)")


def plain_lines(markdown: str) -> list[str]:
    """The lines of a page's markdown as a reader sees them: no link placeholders, tags, heading marks, emphasis
    or table rules; table cells separated by spaces."""
    out: list[str] = []
    for line in markdown.splitlines():
        if _TABLE_RULE.match(line) or line.strip() in ("---", "***"):
            continue
        text = _LEADING.sub("", _TAGS.sub("", _IMAGE_LINK.sub("", line)))
        text = text.replace("**", "").replace("__", "").replace("|", " ").replace("\\", "")
        text = " ".join(text.split())
        if text:
            out.append(text)
    return out


def _word_runs(lines: Iterable[StoredLine]) -> list[_Run]:
    runs: list[_Run] = []
    for ln in lines:
        if not ln.words:
            continue
        top = min(w.y0 for w in ln.words)
        # the line's tallest letters reach the cap height: that gives one font size for the whole line
        size = max(2.0, (ln.baseline - top) / _ASCENT)
        for n, w in enumerate(ln.words):
            text = w.text + (" " if n < len(ln.words) - 1 else "")
            runs.append(_Run(text, w.x0, w.x1, ln.baseline, size))
    return runs


def _bands(lines: Sequence[str], box: tuple[float, float, float, float]) -> list[_Run]:
    """`lines` laid top to bottom inside `box`, one thin band per line (a tall box made one text object would be
    scaled so much that viewers cannot select it)."""
    x0, y0, x1, y1 = box
    if not lines or x1 <= x0 or y1 <= y0:
        return []
    band = (y1 - y0) / len(lines)
    size = band / (_ASCENT + _DESCENT) * 0.9
    return [_Run(text, x0, x1, y0 + band * (i + 1) - _DESCENT * size - band * 0.05, size, stretch=False)
            for i, text in enumerate(lines)]


def _spread(lines: Sequence[str], blocks: Sequence[tuple[tuple[float, float, float, float], int]]) -> list[_Run]:
    """`lines` shared out over `blocks` ((box, weight)) in order, each block taking its share of the lines."""
    total = sum(weight for _, weight in blocks) or 1
    runs: list[_Run] = []
    start = 0
    for n, (box, weight) in enumerate(blocks):
        end = len(lines) if n == len(blocks) - 1 else min(len(lines), start + round(len(lines) * weight / total))
        runs += _bands(lines[start:end], box)
        start = end
    return runs


@dataclass
class PageText:
    runs: list[_Run]
    width_px: float
    height_px: float
    turned: int = 0
    positioned: bool = True


def page_text(page: Page, blocks: list[PageBlock], corrected: bool) -> PageText | None:
    width = float(page.width or 0)
    height = float(page.height or 0)
    stored = list(read_words(page.words))
    turned = int((page.words or {}).get("turned") or 0) if stored else 0
    if width <= 0 or height <= 0:  # no pixel frame known: a unit square laid over the whole page
        width = height = 1000.0
        stored, blocks = [], []
    whole = (0.05 * width, 0.05 * height, 0.95 * width, 0.95 * height)
    if not corrected and stored:
        return PageText(_word_runs(stored), width, height, turned)
    boxed = [b for b in blocks if None not in (b.top_left_x, b.top_left_y, b.bottom_right_x, b.bottom_right_y)
             and b.type != "image"]
    if corrected:
        lines = plain_lines(page.markdown or "")
        ocr_lines = [ln for ln in stored if ln.words]
        if ocr_lines and len(ocr_lines) == len(lines):
            runs = []
            for text, ln in zip(lines, ocr_lines):
                top = min(w.y0 for w in ln.words)
                runs.append(_Run(text, min(w.x0 for w in ln.words), max(w.x1 for w in ln.words), ln.baseline,
                                 max(2.0, (ln.baseline - top) / _ASCENT)))
            return PageText(runs, width, height, turned)
        if ocr_lines:
            boxes = [((min(w.x0 for w in ln.words), min(w.y0 for w in ln.words), max(w.x1 for w in ln.words),
                       max(w.y1 for w in ln.words)), 1) for ln in ocr_lines]
            return PageText(_spread(lines, boxes), width, height, turned)
        if boxed:
            return PageText(_spread(lines, [(_block_box(b), max(1, len(plain_lines(b.content)))) for b in boxed]),
                             width, height)
        return PageText(_bands(lines, whole), width, height, positioned=False)
    if boxed:
        runs = []
        for b in boxed:
            runs += _bands(plain_lines(b.content), _block_box(b))
        if runs:
            return PageText(runs, width, height)
    lines = plain_lines(page.markdown or "")
    if not lines:
        return None
    return PageText(_bands(lines, whole), width, height, positioned=False)


def _block_box(b: PageBlock) -> tuple[float, float, float, float]:
    return (float(b.top_left_x or 0), float(b.top_left_y or 0), float(b.bottom_right_x or 0),
            float(b.bottom_right_y or 0))


# --- drawing --------------------------------------------------------------------------------------------------

def _encodable(text: str) -> str:
    # Helvetica through reportlab's standard encoding takes WinAnsi (cp1252) text; anything else becomes `?`
    return text.encode("cp1252", "replace").decode("cp1252")


def draw_layer(canvas: object, text: PageText, to_pdf: Matrix) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    c = canvas
    t = c.beginText()  # type: ignore[attr-defined]
    t.setTextRenderMode(3)  # invisible: selectable and searchable, never drawn
    t.setFont(_FONT, 1)
    for run in text.runs:
        s = _encodable(run.text)
        core = s.rstrip(" ")
        natural = stringWidth(core, _FONT, 1) * run.size
        if natural <= 0 or run.size <= 0:
            continue
        span = run.x1 - run.x0
        scale = span / natural if run.stretch or natural > span else 1.0
        # text space -> pixels (y down, glyphs upright) -> PDF user space
        tm = _then((run.size * scale, 0, 0, -run.size, run.x0, run.baseline), to_pdf)
        t.setTextTransform(*tm)
        t.textOut(s)
    c.drawText(t)  # type: ignore[attr-defined]


# --- the document ---------------------------------------------------------------------------------------------
