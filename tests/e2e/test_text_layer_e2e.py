"""Text layer first, end to end on the embedded default: born-digital pages skip OCR and its cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import Document, Image, Page, Usage
from scheduler.launch.submit import run
from scheduler.samples import SAMPLE_TEXTS, make_born_digital_pdf, make_scanned_pdf, page_text
from tests.conftest import cer
from tests.fixtures.textlayer_pdfs import join_pdfs, make_broken_layer_pdf, make_picture_pdf


def _db() -> Database:
    return Database.from_settings(DatabaseSettings())


def _pages(db: Database, doc_id: int) -> dict[int, tuple[str, str]]:
    with db.read_session() as s:
        rows = s.execute(select(Page.page_index, Page.source, Page.markdown).where(Page.document_id == doc_id))
        return {i: (source, md) for i, source, md in rows}


def _ocr_pages_billed(db: Database, doc_id: int) -> int:
    with db.read_session() as s:
        total = s.scalar(select(func.sum(Usage.pages_processed)).where(Usage.document_id == doc_id))
        return int(total or 0)


@pytest.mark.slow
def test_each_page_of_a_mixed_document_comes_from_the_right_source(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    parts = tmp_path / "parts"
    parts.mkdir()
    digital_texts = [page_text(i, 80) for i in range(2)]
    good = make_born_digital_pdf(parts / "good.pdf", digital_texts[:1])
    broken = make_broken_layer_pdf(parts / "broken.pdf", [SAMPLE_TEXTS[2]], "control")
    scan = make_scanned_pdf(parts / "scan.pdf", [SAMPLE_TEXTS[3]], dpi=200)
    # pages: good, broken layer, scan, good
    tail = make_born_digital_pdf(parts / "tail.pdf", digital_texts[1:])
    join_pdfs(inputs / "mixed.pdf", [good, broken, scan, tail])
    make_born_digital_pdf(inputs / "digital.pdf", SAMPLE_TEXTS)
    make_picture_pdf(inputs / "picture.pdf", "Text above the picture.", "Text below the picture.")

    job = run([inputs], pages_per_task=8)
    assert job.ok
    db = _db()
    docs = {d.filename: d.document_id for d in job.summary()}

    mixed = _pages(db, docs["mixed.pdf"])
    sources = {i: src for i, (src, _) in mixed.items()}
    assert sources == {0: "text_layer", 1: "tesseract", 2: "tesseract", 3: "text_layer"}
    assert cer(digital_texts[0], mixed[0][1]) < 0.005
    assert cer(digital_texts[1], mixed[3][1]) < 0.005
    assert cer(SAMPLE_TEXTS[2], mixed[1][1]) < 0.05  # OCR read what the broken layer could not say
    assert cer(SAMPLE_TEXTS[3], mixed[2][1]) < 0.05
    assert _ocr_pages_billed(db, docs["mixed.pdf"]) == 2  # usage counts the OCR'd pages only

    digital = _pages(db, docs["digital.pdf"])
    assert [src for src, _ in digital.values()] == ["text_layer"] * 4
    for i, text in enumerate(SAMPLE_TEXTS):
        assert cer(text, digital[i][1]) < 0.005
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Usage).where(Usage.document_id == docs["digital.pdf"])) == 0
        image = s.scalars(select(Image).where(Image.document_id == docs["picture.pdf"])).one()
        doc = s.get(Document, docs["picture.pdf"])
        assert doc is not None and doc.status == "done"
    picture_md = _pages(db, docs["picture.pdf"])[0][1]
    assert f"![{image.name}]({image.name})" in picture_md
    assert (image.width, image.height) == (600, 400)
    assert abs(image.top_left_x - 600) <= 2 and abs(image.bottom_right_y - 1633) <= 2
    assert (Path(str(DatabaseSettings().data_dir)) / "objects" / image.path).exists()


def test_only_mode_never_ocrs_and_says_which_pages_lacked_a_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGEMILL_TEXT_LAYER", "only")
    digital = make_born_digital_pdf(tmp_path / "digital.pdf", SAMPLE_TEXTS[:2])
    scan = make_scanned_pdf(tmp_path / "scan.pdf", SAMPLE_TEXTS[:1], dpi=100)
    job = run([digital, scan])
    summary = {d.filename: d for d in job.summary()}
    assert summary["digital.pdf"].status == "done"
    assert summary["scan.pdf"].status == "failed"
    assert summary["scan.pdf"].error_code == "input"
    assert "no usable text layer" in (summary["scan.pdf"].error or "")
    db = _db()
    assert [src for src, _ in _pages(db, summary["digital.pdf"].document_id).values()] == ["text_layer"] * 2
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Usage)) == 0


def test_the_cli_option_never_ocrs_even_a_good_text_layer(tmp_path: Path, data_dir: Path) -> None:
    digital = make_born_digital_pdf(tmp_path / "digital.pdf", SAMPLE_TEXTS[:1])
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "run", "--text-layer", "never", str(digital)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    db = _db()
    with db.read_session() as s:
        doc_id = s.scalars(select(Document.id)).one()
    pages = _pages(db, doc_id)
    assert pages[0][0] == "tesseract"
    assert cer(SAMPLE_TEXTS[0], pages[0][1]) < 0.05
    assert _ocr_pages_billed(db, doc_id) == 1
