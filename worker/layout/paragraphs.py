"""Lines into paragraphs: a paragraph ends at extra space, a change of size or weight, a first-line indent,
a short line that ends a sentence, a list marker, or a move to another column. Its lines are joined with
spaces, and a word hyphenated at a line end is made whole again."""

from __future__ import annotations

import re
import statistics

from .model import Line

__all__ = ["group_paragraphs", "join_lines", "list_marker", "body_metrics"]

_BULLETS = set("•·▪◦●○■□‣⁃∙*+-–—")
# what Tesseract reads for a bullet glyph; only taken as a bullet when a gap follows it
_READ_AS_BULLET = {"e", "¢", "©", "«", "»", "o", "°", "®", "¤", "*", "+", "-", "•", "·", "oe", "eo"}
_NUMBERED = re.compile(r"^(?:\(?\d{1,3}[.)]|\(?[a-z][.)]|[ivx]{1,4}[.)])$")
_ENDS_SENTENCE = (".", "!", "?", ":")
_HYPHEN_END = re.compile(r"[^\W\d_]-$")


def body_metrics(lines: list[Line]) -> tuple[float, float]:
    """(body text size, body line pitch as a multiple of size)."""
    sizes = [ln.size for ln in lines for _ in ln.words]
    size = statistics.median(sizes) if sizes else 10.0
    ratios: list[float] = []
    for a, b in zip(lines, lines[1:]):
        step = b.baseline - a.baseline
        if abs(a.size - b.size) < 0.15 * max(a.size, b.size) and 0.8 * a.size < step < 3 * a.size:
            ratios.append(step / a.size)
    return size, statistics.median(ratios) if ratios else 1.25


def list_marker(line: Line) -> str | None:
    """`-` or the item's number when the line starts a list item, else None."""
    first = line.words[0]
    text = first.text
    if text and text[0] in "•·▪◦●○■□‣⁃∙" and len(text) > 1 and len(line.words) >= 1:
        return "-"  # a bullet glued to its first word
    if len(line.words) < 2:
        return None
    gap = line.words[1].box.x0 - first.box.x1
    if text in _BULLETS or text in _READ_AS_BULLET:
        if text in _BULLETS and text not in "-–—" or gap > 0.45 * line.size:
            return "-"
        return None
    if _NUMBERED.match(text):
        return text.strip("()").rstrip(".)")
    return None


def _breaks(prev: Line, cur: Line, para: list[Line], pitch: float, item_x: float | None) -> bool:
    pb, cb = prev.box, cur.box
    size = max(prev.size, cur.size)
    if cb.x0 > pb.x1 or cb.x1 < pb.x0:
        return True  # another column
    step = cur.baseline - prev.baseline
    if step < 0.3 * size:
        return True  # moved up, or on the same row
    if step > 1.3 * pitch * size:
        return True
    if abs(prev.size - cur.size) > 0.15 * size or prev.bold != cur.bold:
        return True
    if prev.stroke and cur.stroke and max(prev.stroke, cur.stroke) > 1.3 * min(prev.stroke, cur.stroke):
        return True
    if list_marker(cur) is not None:
        return True
    if item_x is not None:
        return abs(cb.x0 - item_x) > 0.8 * size
    if cb.x0 - pb.x0 > 0.9 * size:
        return True  # an indented first line (or a new block further right)
    right = max(max(ln.box.x1 for ln in para), cb.x1)
    if prev.text.rstrip().endswith(_ENDS_SENTENCE) and right - pb.x1 > cur.words[0].box.width + 0.6 * size:
        return True  # a short last line: the next line's first word would have fitted on it
    return False


def group_paragraphs(lines: list[Line], pitch: float) -> list[list[Line]]:
    """Consecutive lines (in reading order) grouped into paragraphs."""
    groups: list[list[Line]] = []
    item_x: float | None = None
    for ln in lines:
        if groups and not _breaks(groups[-1][-1], ln, groups[-1], pitch, item_x):
            groups[-1].append(ln)
            continue
        groups.append([ln])
        item_x = ln.words[1].box.x0 if list_marker(ln) is not None and len(ln.words) > 1 else None
    return groups


def join_lines(texts: list[str], soft: list[bool]) -> str:
    """Lines of one paragraph as one line; `soft[i]` says line i ends in a hyphenation the source marked."""
    out = texts[0]
    for i, nxt in enumerate(texts[1:]):
        if soft[i]:
            out = out.rstrip("-\xad") + nxt
        elif _HYPHEN_END.search(out) and nxt[:1].islower():
            out = out[:-1] + nxt
        else:
            out = out + " " + nxt
    return out
