"""The shapes the layout stage reads and writes: words and lines with boxes in page pixels (y down), rules and
picture regions found by the engine, and typed blocks.

Both sources fill the same input: the OCR path from Tesseract's words, the text-layer path from pdfium's
characters. Sizes are the text's height in pixels (a font size for text layers, a row height for OCR), so the
same thresholds serve both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Box", "Word", "Line", "Figure", "PageInput", "Block"]


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def contains(self, x: float, y: float, pad: float = 0.0) -> bool:
        return self.x0 - pad <= x <= self.x1 + pad and self.y0 - pad <= y <= self.y1 + pad

    def overlaps(self, other: Box, pad: float = 0.0) -> bool:
        return (self.x0 - pad < other.x1 and other.x0 - pad < self.x1
                and self.y0 - pad < other.y1 and other.y0 - pad < self.y1)

    def ints(self) -> tuple[int, int, int, int]:
        return round(self.x0), round(self.y0), round(self.x1), round(self.y1)


def union_all(boxes: list[Box]) -> Box:
    out = boxes[0]
    for b in boxes[1:]:
        out = out.union(b)
    return out


@dataclass
class Word:
    text: str
    box: Box
    conf: float | None = None  # 0..100, from the OCR engine
    sup: bool = False  # a superscript (footnote mark) set inline after the word before it
    soft_hyphen: bool = False  # the text layer says this word is split at the line end by hyphenation


@dataclass
class Line:
    words: list[Word]
    size: float  # text height in pixels
    baseline: float  # y of the baseline in pixels
    bold: bool = False
    stroke: float | None = None  # OCR only: mean stroke width / size (bold text is heavier)

    @property
    def box(self) -> Box:
        return union_all([w.box for w in self.words])

    @property
    def text(self) -> str:
        out = ""
        for w in self.words:
            if w.sup and out:
                out += f"<sup>{w.text}</sup>"
            else:
                out += (" " if out else "") + w.text
        return out


@dataclass
class Figure:
    box: Box
    image_id: str | None = None  # set when the source already has the picture (a PDF image object)


@dataclass
class PageInput:
    width: int
    height: int
    dpi: int
    lines: list[Line]
    figures: list[Figure] = field(default_factory=list)
    rules: list[Box] = field(default_factory=list)  # thin horizontal and vertical ruling lines


@dataclass
class Block:
    """One typed block in reading order. `markdown` is what the page's markdown gets for it."""

    type: str  # title, text, list, table, image, caption, header, footer
    box: Box
    markdown: str
    lines: list[Line] = field(default_factory=list)
    level: int = 0  # headings: 1 for `#`, 2 for `##` ...
    rows: list[list[str]] | None = None  # tables
    figure: Figure | None = None
