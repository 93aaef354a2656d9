"""Pictures on a scanned page that Tesseract did not report: large regions of ink that no word covers.

The page's dark pixels are pooled into cells about a millimetre wide; cells under a word or a ruling line are
cleared; what remains is grouped into connected regions (touching cells, and cells a few apart, join). A region
at least half an inch on each side, of at least 0.6 square inches, and filled enough not to be a page frame
is a figure.
"""

from __future__ import annotations

import numpy as np

from .model import Box

__all__ = ["ink_figures"]

_MIN_SIDE_IN = 0.5
_MIN_AREA_SQ_IN = 0.6
_MIN_FILL = 0.08  # share of the region's cells with ink: a frame around the page has far less
_JOIN_CELLS = 2  # cells of white a region may bridge


def _grid(dark: np.ndarray, cell: int) -> np.ndarray:
    h, w = dark.shape
    gh, gw = h // cell, w // cell
    if gh == 0 or gw == 0:
        return np.zeros((0, 0), dtype=bool)
    pooled = dark[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).sum(axis=(1, 3))
    return pooled >= max(1, cell * cell // 50)


def _clear(grid: np.ndarray, boxes: list[Box], cell: int, pad: int) -> None:
    for b in boxes:
        x0, y0 = max(0, int(b.x0) // cell - pad), max(0, int(b.y0) // cell - pad)
        x1, y1 = int(b.x1) // cell + pad + 1, int(b.y1) // cell + pad + 1
        grid[y0:y1, x0:x1] = False


def _bridge(grid: np.ndarray, reach: int) -> np.ndarray:
    """`grid` grown by `reach` cells in every direction, so nearby parts of one picture touch."""
    out = grid.copy()
    for _ in range(reach):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _regions(grid: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """(x0, y0, x1, y1, ink cells) of each connected region: runs of each row joined to the runs they touch
    in the row above (union-find over runs, so a large picture costs its runs, not its cells)."""
    joined = _bridge(grid, _JOIN_CELLS)
    padded = np.zeros((joined.shape[0], joined.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = joined
    steps = np.diff(padded, axis=1)
    parent: list[int] = []
    runs: list[tuple[int, int, int]] = []  # row, start, end (exclusive)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    prev: list[int] = []
    for y in range(joined.shape[0]):
        starts = np.flatnonzero(steps[y] == 1).tolist()
        ends = np.flatnonzero(steps[y] == -1).tolist()
        cur: list[int] = []
        j = 0
        for a, b in zip(starts, ends):
            idx = len(runs)
            runs.append((y, a, b))
            parent.append(idx)
            while j < len(prev) and runs[prev[j]][2] <= a:
                j += 1
            k = j
            while k < len(prev) and runs[prev[k]][1] < b:
                ra, rb = find(idx), find(prev[k])
                if ra != rb:
                    parent[ra] = rb
                k += 1
            cur.append(idx)
        prev = cur
    boxes: dict[int, list[int]] = {}
    for i, (y, a, b) in enumerate(runs):
        r = find(i)
        box = boxes.setdefault(r, [a, y, b, y + 1])
        box[0], box[1], box[2], box[3] = min(box[0], a), min(box[1], y), max(box[2], b), max(box[3], y + 1)
    out: list[tuple[int, int, int, int, int]] = []
    for x0, y0, x1, y1 in boxes.values():
        sub = grid[y0:y1, x0:x1]
        rows, cols = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
        if rows.size:  # the box of the ink itself, not of its bridged outline
            out.append((x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1,
                        int(sub.sum())))
    return out


def ink_figures(dark: np.ndarray, dpi: int, text: list[Box], rules: list[Box]) -> list[Box]:
    cell = max(2, dpi // 25)
    grid = _grid(dark, cell)
    if grid.size == 0:
        return []
    _clear(grid, text, cell, pad=1)
    _clear(grid, rules, cell, pad=1)
    if grid.sum() > 0.6 * grid.size:
        return []  # a dark page (a photo, a bad scan): one picture is no better than the text Tesseract found
    found: list[Box] = []
    for x0, y0, x1, y1, count in _regions(grid):
        w_in, h_in = (x1 - x0) * cell / dpi, (y1 - y0) * cell / dpi
        if min(w_in, h_in) < _MIN_SIDE_IN or w_in * h_in < _MIN_AREA_SQ_IN:
            continue
        if count < _MIN_FILL * (x1 - x0) * (y1 - y0):
            continue
        found.append(Box(x0 * cell, y0 * cell, x1 * cell, y1 * cell))
    return found
