"""The invisible text layer of one page of a searchable PDF (scheduler/export/pdf.py writes the document): where
the words go (a corrected page's lines as bands, the local engine's word boxes, a provider's blocks, or the text
spread across the page), and the content stream drawing them in render mode 3, one text matrix per word so each
word sits on its box's baseline and spans its width, in the glyphless font of pdf_font.py (any script).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from models.errors import InputError
from models.tables import Page, PageBlock
from worker.layout.word_boxes import StoredLine, read_words

from .pdf_font import ASCENT, DESCENT, GLYPH_WIDTH, encode

__all__ = ["EDGE_TOLERANCE", "Matrix", "PageMismatch", "PageText", "check_frame", "draw_layer", "fit_runs", "page_text",
           "pixels_to_pdf", "plain_lines"]

# how far (a share of the page's width or height) a word may reach past the page's edge and still be laid,
# pulled inside it: Tesseract's boxes of a letter touching the edge, a provider's block drawn to the edge
EDGE_TOLERANCE = 0.02


class PageMismatch(InputError):
    """A page's stored positions do not fit the page they are to be laid on (words far outside it, or an
    original whose page changed shape since it was read): nothing is written."""

# the layer font's metrics as fractions of its size: the height of capitals and ascenders, the descent
_ASCENT = ASCENT / 1000
_DESCENT = -DESCENT / 1000
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


# the share of a row's pitch its letters take (cap height to descender), the rest being line spacing (1.5 lines
# on the generated pages the figure in docs/searchable-pdf.md was measured on; 1.15-1.5 in most documents)
_GLYPH_SHARE = 0.65
# how much wider than Helvetica's letters are taken to be when counting a block's rows (office fonts and scans
# vary by about 10 % either way; only the row count leans on it, not where rows break)
_WIDER = 1.1


@cache
def _char_width(ch: str) -> float:
    """A letter's width in font sizes: Helvetica's for the letters it has (reportlab's metrics: proportional text
    wraps and places far better than with one width for all), 1 for CJK's square ones, else about half."""
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return 1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 0.55
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(ch, "Helvetica", 1) or 0.55


def _measure(text: str) -> float:
    return sum(_char_width(ch) for ch in text)


def _wrap(text: str, capacity: float) -> list[str]:
    rows: list[str] = []
    for w in text.split():
        if rows and _measure(rows[-1]) + _measure(" " + w) <= capacity:
            rows[-1] += " " + w
        else:
            rows.append(w)
    return rows


def _rows(lines: Sequence[str], box: tuple[float, float, float, float]) -> tuple[list[list[str]], float]:
    """`lines` wrapped into the rows they likely take in `box` (per line, its rows), and the rows' pitch: a
    provider's block holds a paragraph as one line of text however many rows it fills on the page.

    The row count: the box holds n rows at pitch p = height / (n - 1 + _GLYPH_SHARE), letters _GLYPH_SHARE * p
    high, each row as wide as the box holds of letters _WIDER than Helvetica's; n is the smallest count the
    lines fit in. Where the rows break does not lean on that width guess: a line of n' rows has n' - 1 full rows
    and a last one about half full, so it is wrapped greedily at its own length / (n' - 0.5)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    counts = [1] * len(lines)
    pitch = height / (len(lines) - 1 + _GLYPH_SHARE)
    for n in range(len(lines), len(lines) + 400):
        pitch = height / (n - 1 + _GLYPH_SHARE)
        size = pitch * _GLYPH_SHARE / (_ASCENT + _DESCENT)
        counts = [len(_wrap(t, width / (size * _WIDER))) or 1 for t in lines]
        if sum(counts) <= n:
            break
    return [_wrap(t, _measure(t) / (c - 0.5)) if c > 1 else [t] for t, c in zip(lines, counts)], pitch


def _bands(lines: Sequence[str], box: tuple[float, float, float, float], wrap: bool = False) -> list[_Run]:
    """`lines` laid top to bottom inside `box`, one thin band per line (a tall box made one text object would be
    scaled so much that viewers cannot select it). With `wrap` (a provider's block: its box runs from the top of
    its first row's letters to the bottom of its last's), long lines are first wrapped into the rows they likely
    fill, and each word placed where its letters' widths put it, the widest row spanning the box (rows are
    ragged unless justified)."""
    x0, y0, x1, y1 = box
    if not lines or x1 <= x0 or y1 <= y0:
        return []
    if not wrap:
        band = (y1 - y0) / len(lines)
        size = band / (_ASCENT + _DESCENT) * 0.9
        return [_Run(text, x0, x1, y0 + band * (i + 1) - _DESCENT * size - band * 0.05, size, stretch=False)
                for i, text in enumerate(lines)]
    wrapped, pitch = _rows(lines, box)
    size = pitch * _GLYPH_SHARE / (_ASCENT + _DESCENT)
    space = _char_width(" ")
    runs: list[_Run] = []
    # the widest row fills the box (its width is what the box was measured from); every row has its letters
    widest = max((_measure(text) for rows in wrapped for text in rows), default=0.0)
    unit = (x1 - x0) / widest if widest > 0 else size  # pixels a Helvetica font size's width takes
    row = 0
    for rows in wrapped:
        for text in rows:
            baseline = y0 + row * pitch + _ASCENT * size
            words = text.split()
            x = x0
            for j, w in enumerate(words):
                end = x + _measure(w) * unit
                runs.append(_Run(w + (" " if j < len(words) - 1 else ""), x, end, baseline, size))
                x = end + space * unit
            row += 1
    return runs


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
    width_px: float  # the image the runs are in: the page's image turned upright by `turned` degrees
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
            runs += _bands(plain_lines(b.content), _block_box(b), wrap=True)
        if runs:
            return PageText(runs, width, height)
    lines = plain_lines(page.markdown or "")
    if not lines:
        return None
    return PageText(_bands(lines, whole), width, height, positioned=False)


def _block_box(b: PageBlock) -> tuple[float, float, float, float]:
    return (float(b.top_left_x or 0), float(b.top_left_y or 0), float(b.bottom_right_x or 0),
            float(b.bottom_right_y or 0))


# --- does it fit -----------------------------------------------------------------------------------------------

def fit_runs(text: PageText) -> None:
    """Pull runs reaching a little past the page's edge (EDGE_TOLERANCE) inside it; PageMismatch for a run
    further out (positions that belong to another page or image)."""
    w, h = text.width_px, text.height_px  # the upright image's, as the runs are
    tol_x, tol_y = EDGE_TOLERANCE * w, EDGE_TOLERANCE * h
    for run in text.runs:
        top, bottom = run.baseline - _ASCENT * run.size, run.baseline + _DESCENT * run.size
        if run.x0 < -tol_x or run.x1 > w + tol_x or top < -tol_y or bottom > h + tol_y:
            raise PageMismatch(f"the word {run.text.strip()[:40]!r} lies at ({run.x0:.0f}, {top:.0f})-({run.x1:.0f},"
                               f" {bottom:.0f}), outside the {w:.0f} x {h:.0f} pixel image it was read from")
        run.x0, run.x1 = max(0.0, run.x0), min(w, run.x1)
        if bottom > h:
            run.baseline -= bottom - h
        elif top < 0:
            run.baseline -= top


def check_frame(text: PageText, w_pt: float, h_pt: float, rotate: int) -> None:
    """PageMismatch when the page as shown (w_pt x h_pt turned by /Rotate) is not the shape of the image the
    positions were read from: the original was replaced or edited after OCR."""
    shown_w, shown_h = (h_pt, w_pt) if rotate % 180 == 90 else (w_pt, h_pt)
    if not text.positioned or shown_w <= 0 or shown_h <= 0:
        return
    # the image as rendered from the page, before the engine turned it upright
    img_w, img_h = (text.height_px, text.width_px) if text.turned % 180 == 90 else (text.width_px, text.height_px)
    if abs((shown_w / shown_h) / (img_w / img_h) - 1) > 0.03:
        raise PageMismatch(f"the page is {shown_w:.0f} x {shown_h:.0f} pt as shown but was read as a"
                           f" {img_w:.0f} x {img_h:.0f} pixel image (another shape): the original"
                           " changed after OCR; submit it again with --force to read it again")


# --- drawing --------------------------------------------------------------------------------------------------

def _num(v: float) -> str:
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _is_rtl(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in ("R", "AL")


def visual_order(text: str) -> str:
    """`text` (stored in logical order) as its glyphs stand from left to right. Readers (PDFium, Poppler) see
    right-to-left glyphs and put them back into logical order themselves, so an Arabic or Hebrew word is written
    reversed; left-to-right parts inside it (digits, Latin) keep their order, and a combining mark stays with
    its letter. Not the whole Unicode bidi algorithm: one word or line of OCR text at a time is all it needs."""
    if not any(_is_rtl(ch) for ch in text):
        return text
    parts: list[tuple[bool, str]] = []
    for ch in text:
        rtl = _is_rtl(ch) or (unicodedata.combining(ch) > 0 and bool(parts) and parts[-1][0])
        if parts and parts[-1][0] == rtl:
            parts[-1] = (rtl, parts[-1][1] + ch)
        else:
            parts.append((rtl, ch))
    return "".join(part[::-1] if rtl else part for rtl, part in reversed(parts))


def draw_layer(text: PageText, to_pdf: Matrix, font: str, extra: dict[str, int]) -> bytes:
    """The page's layer as a content stream: every run in render mode 3 (invisible: selectable and searchable,
    never drawn), in the glyphless font resource `font` (scheduler/export/pdf_font.py), one text matrix per run
    so it sits on its baseline and spans its box. `extra` collects the characters beyond the BMP it used."""
    out = [f"BT 3 Tr /{font} 1 Tf"]
    unit = GLYPH_WIDTH / 1000
    for run in text.runs:
        core = run.text.rstrip(" ")
        natural = len(core) * unit * run.size  # one code, so one glyph width, per character
        if natural <= 0 or run.size <= 0:
            continue
        span = run.x1 - run.x0
        scale = span / natural if run.stretch or natural > span else 1.0
        # text space -> pixels (y down, glyphs upright) -> PDF user space
        tm = _then((run.size * scale, 0, 0, -run.size, run.x0, run.baseline), to_pdf)
        shown = visual_order(core) + run.text[len(core):]
        out.append(" ".join(_num(v) for v in tm) + f" Tm <{encode(shown, extra).hex()}> Tj")
    out.append("ET")
    return "\n".join(out).encode("ascii")
