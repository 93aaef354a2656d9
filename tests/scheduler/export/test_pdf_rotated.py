"""Rotated scans: a page scanned sideways or upside down (the engine turns it upright before reading it) and a
page stored sideways with /Rotate set so viewers show it upright. Each word's box in the searchable PDF must
land on the word in the image as it is on the page: the truth is the engine's boxes on the same text scanned
upright, turned the way each page's image was turned."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from models import Database, DatabaseSettings
from models.tables import Document, Page
from scheduler.export.pdf import export_pdf
from scheduler.launch.submit import run
from scheduler.samples import SAMPLE_TEXTS, render_text_image
from tests.scheduler.export.pdf_readers import NO_PDFTOTEXT, PDFTOTEXT, iou, pdfium_words, pdftotext
from worker.layout.word_boxes import read_words
from worker.objects.registry import object_store
from worker.settings import WorkerSettings

DPI = 200
Box = tuple[float, float, float, float]


def _turners(w: int, h: int) -> list[Callable[[Box], tuple[Box, float]]]:
    """Per page, an upright pixel box -> (the box in that page's image pixels, that image's height)."""
    ccw = lambda b: ((b[1], w - b[2], b[3], w - b[0]), w)  # noqa: E731  PIL rotate(90): counter-clockwise
    half = lambda b: ((w - b[2], h - b[3], w - b[0], h - b[1]), h)  # noqa: E731
    cw = lambda b: ((h - b[3], b[0], h - b[1], b[2]), w)  # noqa: E731  rotate(270): clockwise
    return [ccw, half, cw, ccw]  # the last page is stored like the first, and /Rotate 90 shows it upright


@pytest.mark.slow
def test_words_land_on_their_word_on_turned_scans_and_rotated_pages(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    upright = render_text_image(SAMPLE_TEXTS[0] + "\n\n" + SAMPLE_TEXTS[2], dpi=DPI)
    upright.save(inbox / "upright.pdf", "PDF", resolution=DPI)
    frames = [upright.rotate(90, expand=True), upright.rotate(180), upright.rotate(270, expand=True),
              upright.rotate(90, expand=True)]
    frames[0].save(tmp_path / "turned.pdf", "PDF", resolution=DPI, save_all=True, append_images=frames[1:])
    with pikepdf.open(tmp_path / "turned.pdf") as pdf:
        pdf.pages[3].Rotate = 90  # shown turned clockwise: upright on screen, sideways in the file
        pdf.save(inbox / "turned.pdf")
    run([inbox])
    db = Database.from_settings(DatabaseSettings())
    with db.read_session() as s:
        ids = {d.filename: d.id for d in s.scalars(select(Document))}
        pages = {name: list(s.scalars(select(Page).options(undefer(Page.words)).where(Page.document_id == i)
                                      .order_by(Page.page_index))) for name, i in ids.items()}
        s.expunge_all()
    truth = [w for ln in read_words(pages["upright.pdf"][0].words) for w in ln.words]
    assert len(truth) >= 50
    # the engine turned pages 0-2 upright before reading them (degrees counter-clockwise, as PIL turns), page 3
    # was upright already (rendered as shown)
    assert [(p.words or {}).get("turned") for p in pages["turned.pdf"]] == [270, 180, 90, 0]

    out = tmp_path / "out.pdf"
    done = export_pdf(db, object_store(WorkerSettings()), ids["turned.pdf"], out)
    assert done.layered == [0, 1, 2, 3]
    found_pages = pdfium_words(out)
    width, height = upright.size
    scale = 72 / DPI
    for n, (turn, found) in enumerate(zip(_turners(width, height), found_pages)):
        # PDFium reads an upside-down line from its right end: pair each true word with the same word's box
        # (the one overlapping it most; each found word used once) rather than by order
        free = list(found)
        placed = missing = 0
        for t in truth:
            (x0, y0, x1, y1), h_px = turn((t.x0, t.y0, t.x1, t.y1))
            box = (x0 * scale, (h_px - y1) * scale, x1 * scale, (h_px - y0) * scale)
            same = [f for f in free if f.text == t.text]
            if not same:
                missing += 1
                continue
            best = max(same, key=lambda f, box=box: iou(box, f.box))
            free.remove(best)
            placed += iou(box, best.box) >= 0.5
        assert missing <= 0.05 * len(truth), (n, missing, [w.text for w in found])
        print(f"page {n}: {placed}/{len(truth)} in place, {missing} missing")
        assert placed >= 0.95 * len(truth), (n, placed, len(truth))
    if not PDFTOTEXT:
        pytest.skip(NO_PDFTOTEXT)
    # Poppler orders a sideways page's paragraphs its own way; each line it gives reads as the engine read it
    for n, text in enumerate(pdftotext(out)):
        said = " ".join(w.text for ln in read_words(pages["turned.pdf"][n].words) for w in ln.words)
        lines = [" ".join(ln.split()) for ln in text.splitlines() if ln.strip()]
        assert sorted(" ".join(lines).split()) == sorted(said.split()), (n, text)
        assert all(ln in said for ln in lines), (n, text)
