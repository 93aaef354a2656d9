"""Tables: ruled ones from the engine's ruling lines, borderless ones from words set in aligned columns.

A ruled table is a connected set of at least two horizontal and two vertical rules; its cells are the spaces
between them and each word goes to the cell holding its centre. A borderless table is a run of at least three
rows made of short, widely spaced segments whose x-ranges line up into two or more columns. Lists (a first
column of bullets or numbers) and two-column prose (long segments) are not tables.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

import numpy as np

from .model import Box, Line, Word, union_all

__all__ = ["FoundTable", "find_tables", "ruled_tables"]

_MARKER = re.compile(r"^(?:[•·▪◦●○■□‣⁃∙*+\-–—»«©¢e]|\(?\d{1,3}[.)]|\(?[a-z][.)])$")
_MAX_CELL_WORDS = 6
_MIN_ROWS = 3
_MAX_RULES = 1500
_MIN_CELL_CONF = 65.0


@dataclass
class FoundTable:
    box: Box
    rows: list[list[str]]
    words: list[Word]  # the words it took from the page


@dataclass
class _Segment:
    words: list[Word]
    box: Box


def _cell_text(words: list[Word]) -> str:
    """A cell's words line by line (words that overlap vertically share a line), small raised words (footnote
    marks) inline as superscripts."""
    rows: list[list[Word]] = []
    for w in sorted(words, key=lambda w: w.box.y0):
        if rows and w.box.y0 < max(x.box.y1 for x in rows[-1]) - 0.1 * w.box.height:
            rows[-1].append(w)
        else:
            rows.append([w])
    out = ""
    for row in rows:
        tall = max(w.box.height for w in row)
        bottom = max(w.box.y1 for w in row)
        for w in sorted(row, key=lambda w: w.box.x0):
            if not w.text.strip("|"):
                continue
            sup = w.sup or (w.box.height < 0.75 * tall and w.box.y1 < bottom - 0.3 * tall and len(w.text) <= 3)
            out += f"<sup>{w.text}</sup>" if sup and out else (" " if out else "") + w.text
    return out.strip()


# --- ruled ---------------------------------------------------------------------------------------------------


def _components(rules: list[Box], tol: float) -> list[list[Box]]:
    parent = list(range(len(rules)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(rules):
        for j in range(i + 1, len(rules)):
            if a.overlaps(rules[j], tol):
                parent[find(i)] = find(j)
    groups: dict[int, list[Box]] = {}
    for i, r in enumerate(rules):
        groups.setdefault(find(i), []).append(r)
    return list(groups.values())


def _cuts(values: list[float], tol: float) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if out and v - out[-1] <= tol:
            continue
        out.append(v)
    return out


def _ruled(rules: list[Box], words: list[Word], tol: float) -> list[FoundTable]:
    found: list[FoundTable] = []
    if len(rules) > _MAX_RULES:
        return found  # a drawing or a map, not a table; grouping that many rules pairwise would be slow
    for comp in _components(rules, tol):
        horiz = [r for r in comp if r.width > r.height]
        vert = [r for r in comp if r.height >= r.width]
        if len(horiz) < 2 or len(vert) < 2:
            continue
        ys = _cuts([r.cy for r in horiz], tol)
        xs = _cuts([r.cx for r in vert], tol)
        if len(ys) < 2 or len(xs) < 2:
            continue
        box = union_all(comp)
        cells: dict[tuple[int, int], list[Word]] = {}
        taken: list[Word] = []
        for w in words:
            if not box.contains(w.box.cx, w.box.cy):
                continue
            taken.append(w)
            row = sum(1 for y in ys[1:-1] if w.box.cy > y)
            col = sum(1 for x in xs[1:-1] if w.box.cx > x)
            cells.setdefault((row, col), []).append(w)
        rows = [[_cell_text(cells.get((r, c), [])) for c in range(len(xs) - 1)] for r in range(len(ys) - 1)]
        rows = [r for r in rows if any(r)]
        if rows:
            found.append(FoundTable(box, rows, taken))
    return found


# --- borderless ----------------------------------------------------------------------------------------------


def _segments(line: Line, gap: float) -> list[_Segment]:
    out: list[_Segment] = []
    for w in line.words:
        if out and w.box.x0 - out[-1].box.x1 <= gap:
            out[-1].words.append(w)
            out[-1].box = out[-1].box.union(w.box)
        else:
            out.append(_Segment([w], w.box))
    return out


def _rows(lines: list[Line], size: float) -> list[list[_Segment]]:
    """Segments of all lines, grouped into rows of the page by vertical overlap."""
    segs = [s for ln in lines for s in _segments(ln, 1.2 * max(ln.size, 1.0))]
    segs.sort(key=lambda s: s.box.cy)
    rows: list[list[_Segment]] = []
    for s in segs:
        if rows and abs(s.box.cy - statistics.fmean(x.box.cy for x in rows[-1])) < 0.5 * size:
            rows[-1].append(s)
        else:
            rows.append([s])
    for r in rows:
        r.sort(key=lambda s: s.box.x0)
    return rows


def _tabular(row: list[_Segment]) -> bool:
    if len(row) < 2 or any(len(s.words) > _MAX_CELL_WORDS for s in row):
        return False
    first = row[0].words
    return not (len(first) == 1 and _MARKER.match(first[0].text) and len(row[1].words) > 1)  # a list item


def _columns(run: list[list[_Segment]]) -> list[tuple[float, float]]:
    """Column x-ranges: where segments of more than a quarter of the rows (at least two) lie."""
    segs = [s for row in run for s in row]
    lo = int(min(s.box.x0 for s in segs))
    cover = np.zeros(int(max(s.box.x1 for s in segs)) - lo + 2, dtype=np.int32)
    for s in segs:
        cover[int(s.box.x0) - lo:int(s.box.x1) - lo + 1] += 1
    dense = cover > max(1, len(run) // 4)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], dense.astype(np.int8), [0]))))
    return [(float(a + lo), float(b - 1 + lo)) for a, b in zip(edges[::2], edges[1::2])]


def _overlap(seg: _Segment, span: tuple[float, float]) -> float:
    return min(seg.box.x1, span[1]) - max(seg.box.x0, span[0])


def _crosses(seg: _Segment, spans: list[tuple[float, float]]) -> bool:
    return sum(1 for sp in spans if _overlap(seg, sp) > 0) > 1


def _fit(run: list[list[_Segment]]) -> tuple[list[list[_Segment]], list[tuple[float, float]]] | None:
    """The run without edge rows that cut across its columns (a list item or a line of prose next to it)."""
    run = list(run)
    while len(run) >= _MIN_ROWS:
        spans = _columns(run)
        if len(spans) < 2:
            return None
        bad = [i for i, row in enumerate(run) if any(_crosses(s, spans) for s in row)]
        if not bad or (bad[0] != 0 and bad[-1] != len(run) - 1):
            return run, spans
        if bad[-1] == len(run) - 1:
            run.pop()
        if bad[0] == 0:
            run.pop(0)
    return None


def _as_table(run: list[list[_Segment]]) -> FoundTable | None:
    fitted = _fit(run)
    if fitted is None:
        return None
    run, spans = fitted
    segs = [s for row in run for s in row]
    first = [s for s in segs if max(range(len(spans)), key=lambda i: _overlap(s, spans[i])) == 0]
    if all(len(s.words) == 1 and _MARKER.match(s.words[0].text) for s in first):
        return None  # a list: bullets or numbers down the first column
    rows: list[list[str]] = []
    for row in run:
        cells = [""] * len(spans)
        for s in row:
            col = max(range(len(spans)), key=lambda i: _overlap(s, spans[i]))
            cells[col] = (cells[col] + " " + _cell_text(s.words)).strip()
        rows.append(cells)
    if statistics.fmean(len(s.words) for s in segs) > 3.5:
        return None  # prose set in columns, not cells
    confs = [w.conf for s in segs for w in s.words if w.conf is not None]
    if confs and statistics.fmean(confs) < _MIN_CELL_CONF:
        return None  # an illustration read as scattered letters
    filled = sum(1 for r in rows for c in r if c)
    if filled < 0.6 * len(rows) * len(spans):
        return None
    return FoundTable(union_all([s.box for s in segs]), rows, [w for s in segs for w in s.words])


def _borderless(lines: list[Line], size: float) -> list[FoundTable]:
    found: list[FoundTable] = []
    run: list[list[_Segment]] = []

    def close() -> None:
        if len(run) >= _MIN_ROWS:
            table = _as_table(run)
            if table is not None:
                found.append(table)
        run.clear()

    for row in _rows(lines, size):
        top = min(s.box.y0 for s in row)
        if run and top - max(s.box.y1 for s in run[-1]) > 2.5 * size:
            close()
        if _tabular(row):
            run.append(row)
        else:
            close()
    close()
    return found


def ruled_tables(rules: list[Box], words: list[Word], dpi: int) -> list[FoundTable]:
    return _ruled(rules, words, tol=max(2.0, dpi / 40))


def find_tables(lines: list[Line], rules: list[Box], dpi: int) -> list[FoundTable]:
    """Ruled tables first; borderless ones among the words that are left."""
    words = [w for ln in lines for w in ln.words]
    tables = _ruled(rules, words, tol=max(2.0, dpi / 40))
    taken = {id(w) for t in tables for w in t.words}
    rest = [Line([w for w in ln.words if id(w) not in taken], ln.size, ln.baseline, ln.bold) for ln in lines]
    rest = [ln for ln in rest if ln.words]
    if rest:
        size = statistics.median(ln.size for ln in rest)
        tables += _borderless(rest, size)
    return tables
