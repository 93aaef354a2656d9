"""End to end with the Mistral OCR 4 block shape: `pagemill run` against the loopback Mistral fake answering
blocks with boxes (header, text, table, image, footer), then `pagemill export --format pdf`: every block's
words come back from PDFium and pdftotext in reading order, each inside its block's box. (How close bands come
to the true word boxes is measured in test_pdf_bands.py: the fake's boxes are not where any text is drawn.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Database, DatabaseSettings
from models.tables import PageBlock
from scheduler.export.pdf_layer import plain_lines
from scheduler.samples import make_image
from tests.fakes.mistral_server import MistralServer, Structure
from tests.scheduler.export.pdf_readers import NO_PDFTOTEXT, PDFTOTEXT, pdfium_words, pdftotext

KEY = "sk-pdf-blocks-7a2e"


@pytest.fixture
def server() -> Iterator[MistralServer]:
    with MistralServer(api_key=KEY, images_per_page=1, model="mistral-ocr-4-1", structure=Structure()) as srv:
        yield srv


def _pagemill(data: Path, server: MistralServer, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update({"PAGEMILL_DATA_DIR": str(data), "PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url,
                "MISTRAL_API_KEY": KEY, "PAGEMILL_EMBEDDED_WORKERS": "1", "PAGEMILL_REQUEST_TIMEOUT_S": "10",
                "COLUMNS": "200"})
    out = subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


@pytest.mark.slow
def test_ocr4_blocks_come_back_in_order_each_word_inside_its_block(tmp_path: Path, server: MistralServer) -> None:
    data = tmp_path / "data"
    scan = make_image(tmp_path / "letter.png", "A letter with a table", "PNG", dpi=200)
    _pagemill(data, server, "run", str(scan), "--extract-header", "--extract-footer")
    db = Database.from_settings(DatabaseSettings(data_dir=data))
    with db.read_session() as s:
        blocks = [b for b in s.scalars(select(PageBlock).order_by(PageBlock.seq)) if b.type != "image"]
        s.expunge_all()
    db.dispose()
    assert [b.type for b in blocks] == ["header", "text", "table", "footer"]

    out = tmp_path / "letter.pdf"
    said = _pagemill(data, server, "export", "1", "--format", "pdf", "--out", str(out))
    assert "a text layer on 1" in said and "no word positions" not in said
    words = pdfium_words(out)[0]
    expected = [(w, b) for b in blocks for line in plain_lines(b.content) for w in line.split()]
    assert [w.text for w in words] == [w for w, _ in expected]
    scale = 72 / 200  # the fake's pixels are the page at 200 dpi; the PNG's page is 1700 x 2200 px
    height_pt = 2200 * scale
    for word, (_, block) in zip(words, expected):
        x0, y0 = block.top_left_x * scale, height_pt - block.bottom_right_y * scale
        x1, y1 = block.bottom_right_x * scale, height_pt - block.top_left_y * scale
        assert x0 - 1 <= word.box[0] and word.box[2] <= x1 + 1 and y0 - 1 <= word.box[1] and word.box[3] <= y1 + 1, (
            word, block.type)
    if not PDFTOTEXT:
        pytest.skip(NO_PDFTOTEXT)
    assert pdftotext(out)[0].split() == [w for w, _ in expected]
