"""A page's OCR words with their boxes, in the compact shape stored in `pages.words` (docs/schema.md).

One JSON value per page, no keys repeated per word: ~38 bytes a word as stored (measured: 1,091 bytes for a
29-word page), so 100,000 pages of ~300 words take ~1.1 GB before the database compresses them:

    {"v": 1, "turned": 0, "lines": [[baseline, [[text, x0, y0, x1, y1, conf], ...]], ...]}

Boxes and baselines are integer pixels of the page image the OCR read (`pages.width` x `pages.height`, y down);
`turned` is the degrees the engine turned that image upright before reading it (0, 90, 180, 270: the boxes are
in the upright image), `conf` Tesseract's word confidence 0..100. Lines are in the engine's reading order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .model import PageInput

__all__ = ["VERSION", "StoredLine", "StoredWord", "page_words", "read_words"]

VERSION = 1


@dataclass(frozen=True)
class StoredWord:
    text: str
    x0: int
    y0: int
    x1: int
    y1: int
    conf: int | None


@dataclass(frozen=True)
class StoredLine:
    baseline: int
    words: list[StoredWord]


def page_words(page: PageInput, turned: int = 0) -> dict[str, Any]:
    """The stored shape of `page`'s words (the layout input, after specks were dropped)."""
    lines: list[list[Any]] = []
    for ln in page.lines:
        words = [[w.text, *w.box.ints(), None if w.conf is None else round(w.conf)] for w in ln.words]
        if words:
            lines.append([round(ln.baseline), words])
    return {"v": VERSION, "turned": int(turned) % 360, "lines": lines}


def read_words(stored: dict[str, Any] | None) -> Iterator[StoredLine]:
    """The lines of a stored value (nothing for None or a version this code does not know)."""
    if not stored or stored.get("v") != VERSION:
        return
    for baseline, words in stored.get("lines") or []:
        yield StoredLine(int(baseline), [StoredWord(str(t), int(a), int(b), int(c), int(d),
                                                    None if conf is None else int(conf))
                                         for t, a, b, c, d, conf in words])
