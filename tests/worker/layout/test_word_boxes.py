"""The local engine's word boxes, in the compact shape stored in pages.words."""

from __future__ import annotations

import json
from pathlib import Path

from scheduler.samples import SAMPLE_TEXTS, make_image
from worker.layout.word_boxes import VERSION, read_words
from worker.providers.base import SourceDocument
from worker.providers.tesseract import TesseractProvider


def test_the_engine_gives_each_word_its_box_in_reading_order(tmp_path: Path) -> None:
    path = make_image(tmp_path / "note.png", SAMPLE_TEXTS[0], "PNG", dpi=200)
    provider = TesseractProvider()
    try:
        page = provider.ocr(SourceDocument(path, "image/png", "image", 1), [0]).pages[0]
    finally:
        provider.close()
    assert page.words is not None and page.words["v"] == VERSION and page.words["turned"] == 0
    lines = list(read_words(page.words))
    words = [w for ln in lines for w in ln.words]
    assert " ".join(w.text for w in words).startswith("Invoice 2024-117 from Northwind Traders.")
    for w in words:
        assert 0 <= w.x0 < w.x1 <= page.width and 0 <= w.y0 < w.y1 <= page.height
        assert w.conf is not None and 0 <= w.conf <= 100
    for ln in lines:  # the baseline sits at the bottom of the line's letters (descenders below it)
        assert all(w.y0 < ln.baseline <= w.y1 + 2 for w in ln.words)
    # compact: well under 40 bytes a word as JSON
    assert len(json.dumps(page.words, separators=(",", ":"))) < 40 * len(words)


def test_an_unknown_or_missing_value_reads_as_no_words() -> None:
    assert list(read_words(None)) == []
    assert list(read_words({"v": 99, "lines": [[1, [["x", 0, 0, 1, 1, 5]]]]})) == []
