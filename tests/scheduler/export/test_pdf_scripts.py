"""The text layer carries every script: words in Greek, Cyrillic, Chinese, Arabic, Hebrew and beyond the BMP,
stored as the engine stores them, come back exactly from PDFium's text page and from Poppler's pdftotext, in
reading order (right-to-left lines too), each on its box."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from models import Database, DatabaseSettings
from scheduler.export.pdf import export_pdf
from scheduler.export.pdf_font import glyphless_truetype
from tests.results_db import migrated_database
from tests.scheduler.export.pdf_readers import NO_PDFTOTEXT, PDFTOTEXT, iou, pdfium_words, pdftotext
from tests.scheduler.export.stored_docs import Word, store_document, words_value
from worker.objects.registry import object_store
from worker.settings import WorkerSettings

# one line per script; right-to-left lines have their first word at the right, as on the page
LINES: list[tuple[str, list[str], bool]] = [
    ("greek", ["Καλημέρα", "κόσμε,", "ευχαριστώ"], False),
    ("cyrillic", ["Съешь", "же", "ещё", "этих", "булок"], False),
    ("chinese", ["你好世界", "数据处理", "文档"], False),
    ("arabic", ["مرحبا", "بالعالم", "الرقمي"], True),
    ("hebrew", ["שלום", "עולם"], True),
    ("latin", ["naïve", "Œuvre", "façade"], False),
    ("beyond the BMP", ["𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀋𠂉"], False),
]
BIDI_MARKS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u200e\u200f"))


def _lines() -> list[tuple[int, list[Word]]]:
    out: list[tuple[int, list[Word]]] = []
    for n, (_, words, rtl) in enumerate(LINES):
        top = 200 + n * 150
        boxes: list[Word] = []
        x = 160
        for w in words:
            width = 60 * len(w)
            boxes.append((w, x, top, x + width, top + 60))
            x += width + 40
        if rtl:  # mirrored across the line: the first word at the right
            boxes = [(w, 1700 - x1, y0, 1700 - x0, y1) for w, x0, y0, x1, y1 in boxes]
        out.append((top + 60, boxes))
    return out


def test_words_of_every_script_come_back_exactly_and_in_place(tmp_path: Path) -> None:
    db = migrated_database(Database.from_settings(DatabaseSettings()).url)
    blank = tmp_path / "scan.png"
    Image.new("L", (1700, 2200), 255).save(blank, dpi=(200, 200))
    lines = _lines()
    doc = store_document(db, blank, "image/png", [dict(
        markdown="\n".join(" ".join(ws) for _, ws, _ in LINES), width=1700, height=2200, dpi=200,
        source="tesseract", words=words_value(lines))])
    out = tmp_path / "out.pdf"
    done = export_pdf(db, object_store(WorkerSettings()), doc, out)
    assert done.layered == [0]

    found = pdfium_words(out)[0]
    # PDFium gives a character beyond the BMP as its two UTF-16 halves: joined back, the words are exact
    texts = [w.text.encode("utf-16", "surrogatepass").decode("utf-16") for w in found]
    assert texts == [w for _, ws, _ in LINES for w in ws]
    scale = 72 / 200
    for (text, x0, y0, x1, y1), got in zip([w for _, ws in lines for w in ws], found):
        # the word's box in points, y up: its letters reach from the baseline's descent to the cap height
        truth = (x0 * scale, 792 - y1 * scale, x1 * scale, 792 - y0 * scale)
        assert iou(truth, got.box) >= 0.5, (text, truth, got.box)

    if PDFTOTEXT:
        page = pdftotext(out)[0].translate(BIDI_MARKS)  # Poppler marks the direction of right-to-left runs
        assert [ln.split() for ln in page.splitlines() if ln.strip()] == [ws for _, ws, _ in LINES]


@pytest.mark.skipif(PDFTOTEXT is None, reason=NO_PDFTOTEXT)
def test_the_layer_font_is_embedded_and_maps_to_unicode(tmp_path: Path) -> None:
    import subprocess

    db = migrated_database(Database.from_settings(DatabaseSettings()).url)
    blank = tmp_path / "scan.png"
    Image.new("L", (850, 1100), 255).save(blank, dpi=(100, 100))
    doc = store_document(db, blank, "image/png", [dict(
        markdown="Ελληνικά", width=850, height=1100, dpi=100, source="tesseract",
        words=words_value([(200, [("Ελληνικά", 100, 160, 500, 200)])]))])
    out = tmp_path / "out.pdf"
    export_pdf(db, object_store(WorkerSettings()), doc, out)
    fonts = subprocess.run([PDFTOTEXT.replace("pdftotext", "pdffonts"), str(out)], capture_output=True, text=True,
                           check=True, timeout=60).stdout.splitlines()
    # name, type, encoding, embedded, subset, unicode map
    assert fonts[2].split()[:7] == ["GlyphLessFont", "CID", "TrueType", "Identity-H", "yes", "no", "yes"]
    assert len(glyphless_truetype()) < 1024  # the whole font program, once per document
