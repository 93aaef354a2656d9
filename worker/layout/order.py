"""Reading order for one or two columns.

A page has two columns when some vertical gutter near the middle is crossed by few items while at least three
sit wholly on each side and the two sides run alongside each other. Items that cross the gutter (a title, a
wide table) cut the page into bands; within a band the left column is read before the right one. Otherwise
items are read top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .model import Box

__all__ = ["reading_order"]

T = TypeVar("T")

_MAX_CROSSING = 0.25
_MIN_SIDE = 3


def _gutter(boxes: list[Box]) -> float | None:
    left = min(b.x0 for b in boxes)
    right = max(b.x1 for b in boxes)
    width = right - left
    if width <= 0 or len(boxes) < 2 * _MIN_SIDE:
        return None
    best: tuple[int, float] | None = None
    steps = 60
    for i in range(steps + 1):
        x = left + width * (0.3 + 0.4 * i / steps)
        crossing = sum(1 for b in boxes if b.x0 < x < b.x1)
        if best is None or crossing < best[0]:
            best = (crossing, x)
    assert best is not None
    crossing, x = best
    # centre the cut in the widest gap at that crossing count
    xs = [left + width * (0.3 + 0.4 * i / steps) for i in range(steps + 1)]
    free = [v for v in xs if sum(1 for b in boxes if b.x0 < v < b.x1) == crossing]
    runs: list[list[float]] = []
    for v in free:
        if runs and v - runs[-1][-1] <= width * 0.4 / steps * 1.01:
            runs[-1].append(v)
        else:
            runs.append([v])
    run = max((r for r in runs if r[0] <= x <= r[-1]), key=len, default=[x])
    x = (run[0] + run[-1]) / 2
    if crossing > _MAX_CROSSING * len(boxes):
        return None
    lefts = [b for b in boxes if b.x1 <= x]
    rights = [b for b in boxes if b.x0 >= x]
    if len(lefts) < _MIN_SIDE or len(rights) < _MIN_SIDE:
        return None
    top = max(min(b.y0 for b in lefts), min(b.y0 for b in rights))
    bottom = min(max(b.y1 for b in lefts), max(b.y1 for b in rights))
    shorter = min(max(b.y1 for b in lefts) - min(b.y0 for b in lefts),
                  max(b.y1 for b in rights) - min(b.y0 for b in rights))
    if bottom - top < 0.3 * shorter:
        return None  # the two sides are stacked, not side by side
    return x


def reading_order(items: list[T], box: Callable[[T], Box]) -> list[T]:
    if not items:
        return []
    boxes = [box(it) for it in items]
    by_top = sorted(range(len(items)), key=lambda i: (boxes[i].y0, boxes[i].x0))
    gutter = _gutter(boxes)
    if gutter is None:
        return [items[i] for i in by_top]
    out: list[T] = []
    band: list[int] = []

    def flush() -> None:
        left = [i for i in band if boxes[i].cx < gutter]
        right = [i for i in band if boxes[i].cx >= gutter]
        out.extend(items[i] for i in left + right)
        band.clear()

    for i in by_top:
        b = boxes[i]
        if b.x0 < gutter < b.x1:
            flush()
            out.append(items[i])
        else:
            band.append(i)
    flush()
    return out
