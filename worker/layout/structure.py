"""One page's lines, rules and figures into typed blocks in reading order.

Steps: running header and footer set apart; tables taken out (ruled, then borderless); words over a figure
kept (a figure never swallows text); the rest put in reading order with the tables and figures, grouped
into paragraphs, and each paragraph typed: a heading when it is short and larger than the body text (level 1
from 1.6x, level 2 from 1.15x) or the same size but bold (level 3), a list item when it starts with a bullet
or a number, a caption when it starts "Figure 1" or "Table 1", else text.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

from .margins import split_margins
from .model import Block, Box, Line, PageInput, union_all
from .order import reading_order
from .paragraphs import body_metrics, group_paragraphs, join_lines, list_marker
from .tables import FoundTable, find_tables

__all__ = ["PageLayout", "analyse"]

_CAPTION = re.compile(r"^(?:figure|fig\.|table|chart|plate|exhibit)\s*[0-9IVX]+[.:\s]", re.IGNORECASE)
_TITLE_RATIO = 1.6
_HEADING_RATIO = 1.15
_HEAVY_STROKE = 1.3
_MAX_HEADING_WORDS = 15
_MIN_HEADING_CONF = 60.0
_BULLET_GLYPHS = set("•·▪◦●○■□‣⁃∙")


@dataclass
class PageLayout:
    blocks: list[Block]  # body blocks in reading order
    header: list[Line] = field(default_factory=list)
    footer: list[Line] = field(default_factory=list)


def _without(lines: list[Line], tables: list[FoundTable]) -> list[Line]:
    taken = {id(w) for t in tables for w in t.words}
    out: list[Line] = []
    for ln in lines:
        words = [w for w in ln.words if id(w) not in taken]
        if words:
            out.append(Line(words, ln.size, ln.baseline, ln.bold, ln.stroke))
    return out


def _split_wide_gaps(lines: list[Line]) -> list[Line]:
    """A line with a gap wider than 2.5 sizes is two lines (two columns, or cells left after tables). A bullet
    and its item stay together however wide the list's indent."""
    out: list[Line] = []
    for ln in lines:
        start = 0
        for i in range(1, len(ln.words)):
            if i == 1 and ln.words[0].text in _BULLET_GLYPHS:
                continue
            if ln.words[i].box.x0 - ln.words[i - 1].box.x1 > 2.5 * ln.size:
                out.append(Line(ln.words[start:i], ln.size, ln.baseline, ln.bold, ln.stroke))
                start = i
        out.append(Line(ln.words[start:], ln.size, ln.baseline, ln.bold, ln.stroke) if start else ln)
    return out


@dataclass
class _Metrics:
    size: float
    pitch: float
    stroke: float | None
    all_bold: bool


def _metrics(lines: list[Line]) -> _Metrics:
    size, pitch = body_metrics(lines)
    body = [ln for ln in lines if abs(ln.size - size) < 0.15 * size]
    strokes = [ln.stroke for ln in body for _ in ln.words if ln.stroke]
    words = sum(len(ln.words) for ln in body)
    bold = sum(len(ln.words) for ln in body if ln.bold)
    return _Metrics(size, pitch, statistics.median(strokes) if strokes else None, words > 0 and bold > 0.5 * words)


def _heading_level(para: list[Line], text: str, m: _Metrics) -> int:
    words = sum(len(ln.words) for ln in para)
    if len(para) > 3 or words > _MAX_HEADING_WORDS or text.rstrip().endswith((".", ",", ";")):
        return 0
    if not (text[:1].isalnum() or text[:1] in "\"'“‘(¿¡"):
        return 0  # a legend swatch or a rule read as characters
    if not any(sum(ch.isalpha() for ch in w.text) >= 2 for ln in para for w in ln.words):
        return 0  # a drop cap or a speck, not a heading
    confs = [w.conf for ln in para for w in ln.words if w.conf is not None]
    if confs and statistics.median(confs) < _MIN_HEADING_CONF:
        return 0  # large noise (an illustration read as letters) is not a heading
    size = statistics.median(ln.size for ln in para)
    if size >= _TITLE_RATIO * m.size:
        return 1
    if size >= _HEADING_RATIO * m.size:
        return 2
    if len(para) == 1 and words <= 10 and not m.all_bold:
        if para[0].bold:
            return 3
        if m.stroke and para[0].stroke and para[0].stroke >= _HEAVY_STROKE * m.stroke:
            return 3
    return 0


def _paragraph_block(para: list[Line], m: _Metrics) -> Block:
    box = union_all([ln.box for ln in para])
    soft = [ln.words[-1].soft_hyphen for ln in para]
    texts = [ln.text for ln in para]
    text = join_lines(texts, soft).strip()
    level = _heading_level(para, text, m)
    if level:
        return Block("title", box, "#" * level + " " + text, para, level=level)
    marker = list_marker(para[0])
    if marker is not None:
        first = para[0]
        texts[0] = Line(first.words[1:], first.size, first.baseline).text if len(first.words) > 1 else ""
        if len(first.words) == 1 or texts[0] == "":
            texts[0] = first.words[0].text.lstrip("•·▪◦●○■□‣⁃∙")
        item = join_lines([t for t in texts if t] or [""], soft).strip()
        prefix = "- " if marker == "-" else f"{marker}. "
        return Block("list", box, prefix + item, para)
    if _CAPTION.match(text):
        return Block("caption", box, text, para)
    return Block("text", box, text, para)


def _merge_lists(blocks: list[Block]) -> list[Block]:
    out: list[Block] = []
    for b in blocks:
        if b.type == "list" and out and out[-1].type == "list":
            prev = out[-1]
            out[-1] = Block("list", prev.box.union(b.box), prev.markdown + "\n" + b.markdown, prev.lines + b.lines)
        else:
            out.append(b)
    return out


def _table_block(t: FoundTable) -> Block:
    return Block("table", t.box, "", rows=t.rows)


def analyse(page: PageInput) -> PageLayout:
    lines = [ln for ln in page.lines if ln.words]
    header, body, footer = split_margins(lines, page.height)
    tables = find_tables(body, page.rules, page.dpi)
    # a picture region that is really a table (Tesseract sometimes calls a grid an image) stays a table
    figures = [f for f in page.figures if not any(t.box.overlaps(f.box) for t in tables)]
    # words over a picture stay text: a page printed over a full-page background, a label set on a photo, a
    # text box drawn with a filled frame. The picture is kept beside them, never in their place.
    body = _split_wide_gaps(_without(body, tables))
    m = _metrics(body) if body else _Metrics(10.0, 1.25, None, False)
    items: list[Line | Block] = [*body, *(_table_block(t) for t in tables)]
    items += [Block("image", f.box, "", figure=f) for f in figures]

    def box_of(it: Line | Block) -> Box:
        return it.box

    blocks: list[Block] = []
    run: list[Line] = []

    def flush() -> None:
        for para in group_paragraphs(run, m.pitch):
            blocks.append(_paragraph_block(para, m))
        run.clear()

    for it in reading_order(items, box_of):
        if isinstance(it, Line):
            run.append(it)
        else:
            flush()
            blocks.append(it)
    flush()
    return PageLayout(_merge_lists(blocks), header, footer)
