"""Running headers, footers and page numbers: short lines in the top or bottom band of the page, set apart
from the body by a gap. A line that merely starts near the edge (a tightly cropped scan) is body text."""

from __future__ import annotations

import re
import statistics

from .model import Line

__all__ = ["split_margins"]

_BAND = 0.09  # of the page height
_NUMBER_BAND = 0.15
_MAX_LINES = 2
_PAGE_NUMBER = re.compile(r"^[\W_]*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?[\W_]*$", re.IGNORECASE)


def _gap_after(edge: list[Line], body: list[Line], top: bool) -> float:
    if not body:
        return float("inf")
    if top:
        return min(b.box.y0 for b in body) - max(e.box.y1 for e in edge)
    return min(e.box.y0 for e in edge) - max(b.box.y1 for b in body)


def _take(lines: list[Line], height: int, top: bool, size: float) -> list[Line]:
    order = sorted(lines, key=lambda ln: ln.box.y0 if top else -ln.box.y1)
    taken: list[Line] = []
    for ln in order:
        pos = ln.box.y1 / height if top else 1 - ln.box.y0 / height
        is_number = bool(_PAGE_NUMBER.match(ln.text))
        if pos > (_NUMBER_BAND if is_number else _BAND) or len(taken) >= _MAX_LINES:
            break
        taken.append(ln)
    # keep the smallest prefix that a clear gap separates from the body
    for n in range(len(taken), 0, -1):
        edge = taken[:n]
        body = [ln for ln in lines if all(ln is not e for e in edge)]
        if _gap_after(edge, body, top) >= 1.2 * size:
            return edge
    return []


def split_margins(lines: list[Line], height: int) -> tuple[list[Line], list[Line], list[Line]]:
    """(header lines, body lines, footer lines)."""
    if len(lines) < 2:
        return [], lines, []
    size = statistics.median(ln.size for ln in lines)
    header = _take(lines, height, True, size)
    rest = [ln for ln in lines if all(ln is not h for h in header)]
    footer = _take(rest, height, False, size) if len(rest) >= 2 else []
    body = [ln for ln in rest if all(ln is not f for f in footer)]
    return header, body, footer
