"""How exact a provider's blocks laid as line bands are (Mistral OCR 4 gives each block's text and box, no word
boxes): generated pages read by the local engine give the true word boxes; the same pages stored as OCR 4 would
store them (one block per paragraph, its box around the paragraph's words, its text one line) are exported, and
each word's PDFium box is compared with its true box. The figure is in docs/searchable-pdf.md."""

from __future__ import annotations

import difflib
import statistics
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from models import Database, DatabaseSettings
from models.tables import Document, Page
from scheduler.export.pdf import export_pdf
from scheduler.launch.submit import run
from scheduler.samples import SAMPLE_TEXTS, make_image
from tests.scheduler.export.pdf_readers import iou, pdfium_words
from tests.scheduler.export.stored_docs import store_document
from worker.layout.word_boxes import StoredLine, StoredWord, read_words
from worker.objects.registry import object_store
from worker.settings import WorkerSettings


def _paragraphs(lines: list[StoredLine]) -> list[list[StoredWord]]:
    """The engine's lines grouped into paragraphs: a gap over 1.6 times the usual line pitch starts one."""
    pitches = [b.baseline - a.baseline for a, b in zip(lines, lines[1:])]
    usual = statistics.median(pitches) if pitches else 0
    out: list[list[StoredWord]] = [list(lines[0].words)]
    for pitch, line in zip(pitches, lines[1:]):
        if pitch > 1.6 * usual:
            out.append([])
        out[-1] += line.words
    return out


@pytest.mark.slow
def test_blocks_laid_as_bands_put_most_words_on_their_word(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    pages = {f"page-{dpi}-{k}.png": dpi for k in range(2) for dpi in (150, 200, 300)}
    for n, (name, dpi) in enumerate(pages.items()):
        text = "\n\n".join(SAMPLE_TEXTS[(n + j) % 4] for j in range(3))
        make_image(inbox / name, text, "PNG", dpi=dpi)
    run([inbox])
    db = Database.from_settings(DatabaseSettings())
    objects = object_store(WorkerSettings())
    ious: list[float] = []
    for name in pages:
        with db.read_session() as s:
            doc = s.scalars(select(Document).where(Document.filename == name)).one()
            page = s.scalars(select(Page).options(undefer(Page.words)).where(Page.document_id == doc.id)).one()
            s.expunge_all()
        truth = [w for ln in read_words(page.words) for w in ln.words]
        blocks = [(" ".join(w.text for w in para), (min(w.x0 for w in para), min(w.y0 for w in para),
                                                      max(w.x1 for w in para), max(w.y1 for w in para)))
                  for para in _paragraphs(list(read_words(page.words)))]
        assert len(blocks) == 3, name
        as_ocr4 = store_document(db, inbox / name, "image/png", [dict(
            markdown="\n\n".join(t for t, _ in blocks), width=page.width, height=page.height, dpi=page.dpi,
            source="mistral", model="mistral-ocr-4")], {0: blocks}, sha256=f"{doc.sha256[:-4]}ocr4")
        out = tmp_path / f"{name}.pdf"
        done = export_pdf(db, objects, as_ocr4, out)
        assert done.layered == [0] and not done.without_positions
        found = pdfium_words(out)[0]
        assert [w.text for w in found] == [w.text for w in truth], name  # every word, in reading order
        h_pt = page.height * 72 / page.dpi
        scale = 72 / page.dpi
        matcher = difflib.SequenceMatcher(a=[w.text for w in truth], b=[w.text for w in found], autojunk=False)
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                t, f = truth[block.a + k], found[block.b + k]
                ious.append(iou((t.x0 * scale, h_pt - t.y1 * scale, t.x1 * scale, h_pt - t.y0 * scale), f.box))
    placed = sum(v >= 0.5 for v in ious) / len(ious)
    print(f"\nbands: {len(ious)} words on {len(pages)} pages, IoU >= 0.5 for {placed:.3f}, "
          f"median IoU {statistics.median(ious):.2f}, lowest {min(ious):.2f}")
    assert placed >= 0.6, placed
