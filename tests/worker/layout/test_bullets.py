"""Bulleted lists on scans: whatever Tesseract reads a bullet as (`e`, `«`, `*`, `.`, `@` ...), and whether it
puts the glyph on the item's line or on a line of its own, a bullet beside its item makes one `- ` item with
the item's words and without the glyph. A real one-letter word ("A", "a", "I") is never taken for a bullet."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from tests.structure_docs import NOTICE_AFTER, NOTICE_ITEMS, make_notice, scan_pdf
from worker.layout.bullets import mark_bullets
from worker.layout.model import Box, Line, Word
from worker.providers._tesseract import TesseractEngine


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    eng = TesseractEngine()
    yield eng
    eng.close()


def _scan_markdown(engine: TesseractEngine, tmp: Path, dpi: int) -> str:
    src = tmp / "notice.pdf"
    make_notice(src)
    scan = scan_pdf(src, tmp / f"notice-{dpi}.pdf", dpi=dpi, seed=dpi)
    with pdfium.PdfDocument(scan) as pdf:
        image = pdf[0].render(scale=dpi / 72, grayscale=True).to_pil().copy()
    return engine.read(image, dpi).found.markdown


@pytest.mark.parametrize("dpi", [150, 200, 300])
def test_each_scanned_bullet_item_is_one_list_item(engine: TesseractEngine, tmp_path: Path, dpi: int) -> None:
    markdown = _scan_markdown(engine, tmp_path, dpi)
    lines = [ln for ln in markdown.splitlines() if ln.strip()]
    items = [ln for ln in lines if ln.startswith("- ")]
    assert items == [f"- {t}" for t in NOTICE_ITEMS], markdown
    # the list is one block, items in order, and no misread glyph is left lying about
    first = lines.index(items[0])
    assert lines[first:first + 3] == items
    assert not any(len(ln.strip()) <= 2 for ln in lines), markdown


def test_a_sentence_starting_with_a_one_letter_word_stays_a_paragraph(engine: TesseractEngine,
                                                                      tmp_path: Path) -> None:
    markdown = _scan_markdown(engine, tmp_path, 200)
    assert NOTICE_AFTER in markdown.splitlines(), markdown


# Geometry in page pixels, as from a 200 dpi scan of 11 pt text: x-height 16 px, baseline at y=400.
SIZE, BASE = 16.0, 400.0


def _word(text: str, x0: float, width: float, top: float = BASE - 22, bottom: float = BASE,
          conf: float | None = 90.0) -> Word:
    return Word(text, Box(x0, top, x0 + width, bottom), conf=conf)


def _glyph(text: str, x0: float = 200, conf: float | None = 40.0) -> Word:
    """A bullet as a scan shows it: about 0.6 x-heights square, centred on the x-height band."""
    return _word(text, x0, 10, top=BASE - 13, bottom=BASE - 3, conf=conf)


def _line(*words: Word) -> Line:
    return Line(list(words), SIZE, BASE)


def test_a_glyph_on_a_line_of_its_own_joins_its_item() -> None:
    item = _line(_word("Berth", 250, 60), _word("seven", 320, 70))
    out = mark_bullets([item, _line(_glyph("e"))])
    assert [w.text for ln in out for w in ln.words] == ["•", "Berth", "seven"]
    assert len(out) == 1


@pytest.mark.parametrize("read_as", ["e", "¢", "«", "°", "*", "o", "»", "®", "."])
def test_a_misread_bullet_before_its_item_becomes_a_bullet(read_as: str) -> None:
    out = mark_bullets([_line(_glyph(read_as), _word("Night", 250, 60), _word("pilotage", 320, 90))])
    assert out[0].text == "• Night pilotage"


def test_one_letter_words_are_not_bullets() -> None:
    capital_a = _word("A", 200, 18, top=BASE - 21)  # a capital, then an ordinary word space
    lower_a = _word("a", 200, 14, top=BASE - 16)
    capital_i = _word("I", 200, 6, top=BASE - 21)
    e_mid = _word("e", 330, 14, top=BASE - 16)  # "e" in the middle of a sentence, even after a wide gap
    lines = [
        _line(capital_a, _word("crane", 226, 70)),
        _line(lower_a, _word("crane", 222, 70)),
        _line(capital_i, _word("expect", 246, 80)),  # too narrow to be a bullet, whatever the gap
        _line(_word("Form", 200, 60), _word("and", 268, 40), e_mid, _word("was", 370, 40)),
    ]
    assert [ln.text for ln in mark_bullets(lines)] == ["A crane", "a crane", "I expect", "Form and e was"]


def test_a_letter_sized_letter_is_a_bullet_only_in_a_column_of_bullets() -> None:
    def row(y: float) -> Line:
        # as large as a lowercase letter, and not what Tesseract usually makes of a bullet
        a = Word("a", Box(200, y - 16, 216, y), conf=60.0)
        return Line([a, Word("item", Box(250, y - 22, 300, y), conf=90.0)], SIZE, y)

    assert mark_bullets([row(BASE)])[0].text == "a item"
    assert [ln.text for ln in mark_bullets([row(BASE), row(BASE + 40)])] == ["• item", "• item"]


def test_text_layer_characters_are_taken_as_they_are() -> None:
    line = _line(_glyph("o", conf=None), _word("Night", 250, 60, conf=None))
    assert mark_bullets([line])[0].text == "o Night"
