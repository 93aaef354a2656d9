"""Bullet glyphs on scans, recognised by their shape and place rather than by what Tesseract calls them.

Tesseract has no class for a bullet: it reads `•` as `e`, `¢`, `«`, `°`, `o`, `.`, `@` ... and, when the indent
between bullet and text is wide, often puts the glyph on a line of its own (which then sorts after its item,
its top being lower than the item's ascenders). Here a glyph counts as a bullet when it is

- one short token (at most two characters, no digit: `1.` and `a)` are numbers, found elsewhere),
- bullet-sized: a roughly square box no larger than a capital letter,
- vertically centred on the x-height band of the text beside it,
- the first thing on its row, with a gap to the item's first word wider than any word space.

A real one-letter word ("a", "I", "A", "e") fails on shape (`I`), on the gap (a word space follows it) or,
being letter-sized, on both of: not being a typical bullet misreading and not being aligned with another
bullet. Such a glyph becomes the word `•`, joined to its item's line, so the rest of the layout stage treats
scans exactly as text layers, whose bullets are real `•` characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Box, Line, Word

__all__ = ["BULLET", "bullet_sized", "mark_bullets"]

BULLET = "•"
# A bullet sits on the x-height: smaller than a lowercase letter, whose box (blurred) is about one x-height.
_SMALL = 0.85
_MIN_SIDE = 0.3  # below this share of the x-height a glyph is a speck
_MAX_SIDE = 1.45  # a capital letter is about 1.4 x-heights; a filled circle `●` about 1.25
_MIN_GAP = 1.0  # word spaces are about half an x-height; a list indent leaves two or more
_MAX_GAP = 6.0
_CENTRE = 0.45  # how far (in x-heights) the glyph's centre may sit from the middle of the x-height band
# what a letter-sized bullet (`●`, or `•` in a larger font) is read as; a plain letter must line up with
# another bullet before it is taken for one
_MISREAD = {"e", "¢", "©", "«", "»", "o", "°", "®", "¤", "*", "+", "•", "·", "@", "@®", "®@", "oe", "eo", "O",
            "Q", "©®", "e®"}


def bullet_sized(box: Box, size: float) -> bool:
    """A roughly square box between a speck and a capital letter, for a line whose x-height is `size`."""
    w, h = box.width, box.height
    if size <= 0 or h <= 0:
        return False
    return (_MIN_SIDE * size <= w <= _MAX_SIDE * size and _MIN_SIDE * size <= h <= _MAX_SIDE * size
            and 0.6 <= w / h <= 1.6)


@dataclass
class _Candidate:
    glyph: Word
    glyph_line: int  # index of the line holding the glyph
    item_line: int  # index of the line holding the item's text (the same line when the glyph is inline)
    strong: bool  # smaller than a letter, or a typical misreading: needs no neighbour to vouch for it


def _fits(glyph: Word, item: Line, first: Word) -> bool:
    """`glyph` could be the bullet of the item whose line is `item` and whose first word is `first`."""
    size = item.size
    if glyph.conf is None:
        return False  # a text layer's characters are what they say: its bullets are real `•`
    text = glyph.text
    if not text or len(text) > 2 or any(ch.isdigit() for ch in text) and text not in _MISREAD:
        return False
    if not bullet_sized(glyph.box, size):
        return False
    if abs(glyph.box.cy - (item.baseline - 0.5 * size)) > _CENTRE * size:
        return False  # a comma, a footnote mark, a descender: off the x-height band
    gap = first.box.x0 - glyph.box.x1
    return _MIN_GAP * size <= gap <= _MAX_GAP * size


def _strong(glyph: Word, size: float) -> bool:
    return glyph.box.height <= _SMALL * size or glyph.text in _MISREAD or not glyph.text.isalpha()


def _candidates(lines: list[Line]) -> list[_Candidate]:
    found: list[_Candidate] = []
    taken: set[int] = set()
    for i, ln in enumerate(lines):
        if len(ln.words) >= 2 and _fits(ln.words[0], ln, ln.words[1]):
            found.append(_Candidate(ln.words[0], i, i, _strong(ln.words[0], ln.size)))
            taken.add(i)
    for i, ln in enumerate(lines):
        if len(ln.words) != 1:
            continue
        glyph = ln.words[0]
        best: tuple[float, int] | None = None
        for j, item in enumerate(lines):
            if j == i or j in taken or item.words[0].box.x0 <= glyph.box.x1:
                continue
            if _fits(glyph, item, item.words[0]):
                gap = item.words[0].box.x0 - glyph.box.x1
                if best is None or gap < best[0]:
                    best = (gap, j)
        if best is not None:
            found.append(_Candidate(glyph, i, best[1], _strong(glyph, lines[best[1]].size)))
            taken.add(best[1])
    return found


def mark_bullets(lines: list[Line]) -> list[Line]:
    """`lines` with each bullet glyph made the word `•` at the start of its item's line (a glyph on a line of
    its own is moved onto its item's line, and its own line goes)."""
    found = _candidates(lines)
    accepted: list[_Candidate] = []
    for c in found:
        size = lines[c.item_line].size
        # a letter-sized letter is a bullet only when another bullet stands in the same column
        aligned = any(o is not c and abs(o.glyph.box.x0 - c.glyph.box.x0) <= 0.5 * size for o in found)
        if c.strong or aligned:
            accepted.append(c)
    if not accepted:
        return lines
    out = list(lines)
    gone: set[int] = set()
    for c in accepted:
        item = out[c.item_line]
        bullet = Word(BULLET, c.glyph.box, conf=c.glyph.conf)
        rest = item.words[1:] if c.glyph_line == c.item_line else item.words
        out[c.item_line] = Line([bullet, *rest], item.size, item.baseline, item.bold, item.stroke)
        if c.glyph_line != c.item_line:
            gone.add(c.glyph_line)
    return [ln for k, ln in enumerate(out) if k not in gone]
