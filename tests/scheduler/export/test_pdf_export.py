"""`export --format pdf`: the local engine run on generated scans, the searchable PDF read back by PDFium and by
Poppler's pdftotext (readers pagemill did not write): words found in reading order, each on its word in the
image, born-digital pages untouched, image documents one page per image with JPEG bytes kept."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from models import Database, DatabaseSettings
from models.corrections import save_correction
from models.tables import Document, Page
from scheduler.export.pdf import PdfExport, export_pdf
from scheduler.launch.submit import run
from scheduler.samples import SAMPLE_TEXTS, make_born_digital_pdf, make_image, make_scanned_pdf, make_tiff
from tests.fixtures.textlayer_pdfs import join_pdfs
from tests.results_db import migrated_database
from tests.scheduler.export.pdf_readers import NO_PDFTOTEXT, PDFTOTEXT, iou, jpeg_bytes, pdfium_words, pdftotext
from worker.layout.word_boxes import read_words
from worker.objects.registry import object_store
from worker.settings import WorkerSettings


def _db() -> Database:
    return Database.from_settings(DatabaseSettings())


def _doc_ids(db: Database) -> dict[str, int]:
    with db.read_session() as s:
        return {name: i for i, name in s.execute(select(Document.id, Document.filename))}


def _pages(db: Database, doc_id: int) -> list[Page]:
    with db.read_session() as s:
        pages = list(s.scalars(select(Page).options(undefer(Page.words)).where(Page.document_id == doc_id)
                               .order_by(Page.page_index)))
        s.expunge_all()
    return pages


def _export(db: Database, doc_id: int, out: Path, **kwargs: bool) -> PdfExport:
    return export_pdf(db, object_store(WorkerSettings()), doc_id, out, **kwargs)


def _words(text: str) -> list[str]:
    return text.split()


def _in_order(found: list[str], expected: list[str]) -> float:
    """Share of the expected words found in order (a longest common subsequence)."""
    import difflib

    matcher = difflib.SequenceMatcher(a=expected, b=found, autojunk=False)
    return sum(b.size for b in matcher.get_matching_blocks()) / len(expected)


def _placed_share(page: Page, words: list, size_pt: tuple[float, float]) -> tuple[float, int]:
    """Share of the engine's words whose PDFium box has IoU >= 0.5 with the engine's box (mapped to points)."""
    import difflib

    w_pt, h_pt = size_pt
    sx, sy = w_pt / page.width, h_pt / page.height
    engine = [w for ln in read_words(page.words) for w in ln.words]
    matcher = difflib.SequenceMatcher(a=[e.text for e in engine], b=[w.text for w in words], autojunk=False)
    good = 0
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            e, w = engine[block.a + k], words[block.b + k]
            box = (e.x0 * sx, h_pt - e.y1 * sy, e.x1 * sx, h_pt - e.y0 * sy)
            good += iou(box, w.box) >= 0.5
    return good / len(engine), len(engine)


@pytest.mark.slow
@pytest.mark.parametrize("dpis", [(150, 200, 300)])
def test_scans_at_three_resolutions_come_out_searchable_with_words_in_place(tmp_path: Path, dpis: tuple[int, ...]
                                                                           ) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    texts = {dpi: [SAMPLE_TEXTS[n % 4], SAMPLE_TEXTS[(n + 1) % 4]] for n, dpi in enumerate(dpis)}
    for dpi in dpis:
        make_scanned_pdf(inbox / f"scan-{dpi}.pdf", texts[dpi], dpi=dpi)
    job = run([inbox])
    assert all(e.document_id for e in job.entries)
    db = _db()
    ids = _doc_ids(db)
    for dpi in dpis:
        src = inbox / f"scan-{dpi}.pdf"
        out = tmp_path / f"out-{dpi}.pdf"
        done = _export(db, ids[src.name], out)
        assert done.layered == [0, 1] and not done.without_positions
        pages = _pages(db, ids[src.name])
        per_page = pdfium_words(out)
        with pikepdf.open(out) as pdf:
            sizes = [(float(p.mediabox[2]), float(p.mediabox[3])) for p in pdf.pages]
        for n, expected in enumerate(texts[dpi]):
            found = [w.text for w in per_page[n]]
            assert _in_order(found, _words(expected)) >= 0.95, (dpi, n, found)
            share, count = _placed_share(pages[n], per_page[n], sizes[n])
            assert count >= 25 and share >= 0.95, (dpi, n, share)
        if PDFTOTEXT:
            for n, text in enumerate(pdftotext(out)):
                assert _in_order(_words(text), _words(texts[dpi][n])) >= 0.95, (dpi, n, text)
        # the scan itself is carried over, not re-encoded: the page image's JPEG bytes are the input's (a Flate
        # layer around them, when it makes them smaller, is taken off here as a reader does)
        with pikepdf.open(src) as a, pikepdf.open(out) as b:
            for pa, pb in zip(a.pages, b.pages):
                before = [jpeg_bytes(im) for im in pa.Resources.XObject.values()]
                after = [jpeg_bytes(im) for name, im in pb.Resources.XObject.items()
                         if im.Subtype == pikepdf.Name.Image]
                assert before and before == after
        assert out.stat().st_size < src.stat().st_size * 1.1


@pytest.mark.skipif(PDFTOTEXT is None, reason=NO_PDFTOTEXT)
@pytest.mark.slow
def test_a_born_digital_page_is_untouched_and_a_corrected_page_carries_its_correction(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    digital = make_born_digital_pdf(parts / "digital.pdf", [SAMPLE_TEXTS[0]])
    scan = make_scanned_pdf(parts / "scan.pdf", [SAMPLE_TEXTS[2]], dpi=200)
    mixed = join_pdfs(tmp_path / "mixed.pdf", [digital, scan])
    run([mixed])
    db = _db()
    doc = _doc_ids(db)["mixed.pdf"]
    assert [p.source for p in _pages(db, doc)] == ["text_layer", "tesseract"]
    out = tmp_path / "out.pdf"
    done = _export(db, doc, out)
    assert done.untouched == [0] and done.layered == [1]
    with pikepdf.open(mixed) as a, pikepdf.open(out) as b:
        assert a.pages[0].Contents.read_raw_bytes() == b.pages[0].Contents.read_raw_bytes()
        assert set(a.pages[0].Resources.keys()) == set(b.pages[0].Resources.keys())
        # the scanned page keeps its own content stream as the first part of its contents
        original = a.pages[1].Contents.read_raw_bytes()
        assert any(s.read_raw_bytes() == original for s in b.pages[1].Contents)
    text = pdftotext(out)
    assert _in_order(_words(text[0]), _words(SAMPLE_TEXTS[0])) == 1.0
    assert text[0].count("Northwind") == 1  # no second layer over the born-digital page
    assert _in_order(_words(text[1]), _words(SAMPLE_TEXTS[2])) >= 0.95

    corrected = "The quick brown fox jumps over the sleepy cat\nwhile the farmer counts his sheep."
    save_correction(db, doc, 1, corrected, "tester")
    again = _export(db, doc, tmp_path / "corrected.pdf")
    assert again.layered == [1] and not again.without_positions
    words = [w.text for w in pdfium_words(tmp_path / "corrected.pdf")[1]]
    assert words == _words(corrected)
    assert _words(pdftotext(tmp_path / "corrected.pdf")[1]) == _words(corrected)


@pytest.mark.slow
def test_image_documents_become_one_page_per_image_with_the_jpeg_bytes_kept(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    jpeg = make_image(inbox / "receipt.jpg", SAMPLE_TEXTS[1], "JPEG", dpi=200)
    make_image(inbox / "note.png", SAMPLE_TEXTS[3], "PNG", dpi=150)
    make_image(inbox / "note.webp", SAMPLE_TEXTS[0], "WEBP", dpi=200)
    make_tiff(inbox / "fax.tiff", [SAMPLE_TEXTS[0], SAMPLE_TEXTS[2]], dpi=200)
    run([inbox])
    db = _db()
    ids = _doc_ids(db)
    expect = {"receipt.jpg": ([SAMPLE_TEXTS[1]], 200), "note.png": ([SAMPLE_TEXTS[3]], 150),
              "note.webp": ([SAMPLE_TEXTS[0]], 200), "fax.tiff": ([SAMPLE_TEXTS[0], SAMPLE_TEXTS[2]], 200)}
    for name, (texts, dpi) in expect.items():
        out = tmp_path / f"{name}.pdf"
        done = _export(db, ids[name], out)
        assert done.pages == len(texts) and done.layered == list(range(len(texts))), name
        pages = _pages(db, ids[name])
        words = pdfium_words(out)
        with pikepdf.open(out) as pdf:
            assert len(pdf.pages) == len(texts)
            for n, page in enumerate(pdf.pages):
                # at the image's own resolution (WebP records none: the engine's fallback, as stored)
                assert pages[n].dpi == dpi or name.endswith(".webp")
                assert float(page.mediabox[2]) == pytest.approx(pages[n].width * 72 / pages[n].dpi, abs=0.5), name
                found = [w.text for w in words[n]]
                assert _in_order(found, _words(texts[n])) >= 0.95, (name, n, found)
                share, _ = _placed_share(pages[n], words[n], (float(page.mediabox[2]), float(page.mediabox[3])))
                assert share >= 0.95, (name, n, share)
            if name == "receipt.jpg":
                image = pdf.pages[0].Resources.XObject.Im0
                kept = jpeg_bytes(image)
                assert hashlib.sha256(kept).digest() == hashlib.sha256(jpeg.read_bytes()).digest()


def _stored_image_document(db: Database, tmp_path: Path, name: str, blocks: list[tuple[str, tuple[int, ...]]]
                           ) -> int:
    """A PNG document with a page as a provider without word boxes stores it: blocks with boxes, or none."""
    from models.tables import PageBlock

    png = make_image(tmp_path / name, "Quarterly report\n\nSales rose in every region.", "PNG", dpi=200)
    stored = object_store(WorkerSettings()).put_bytes(png.read_bytes(), "originals", "png")
    markdown = "\n\n".join(text for text, _ in blocks) or "# Quarterly report\n\nSales rose in every region."
    with db.write_session() as s:
        doc = Document(sha256=stored.sha256, filename=name, mime_type="image/png", object_path=stored.relpath,
                       status="done", page_count=1)
        s.add(doc)
        s.flush()
        s.add(Page(document_id=doc.id, page_index=0, markdown=markdown, width=1700, height=2200, dpi=200,
                   source="mistral", model="mistral-ocr-4"))
        for seq, (text, box) in enumerate(blocks):
            s.add(PageBlock(document_id=doc.id, page_index=0, seq=seq, type="text", content=text,
                            top_left_x=box[0], top_left_y=box[1], bottom_right_x=box[2], bottom_right_y=box[3]))
        return doc.id


def test_blocks_without_word_boxes_are_laid_as_bands_inside_their_boxes(tmp_path: Path) -> None:
    db = migrated_database(_db().url)
    blocks = [("# Quarterly report", (160, 160, 900, 230)),
              ("Sales rose in every region.\nThe north led the rest.", (160, 300, 1500, 420))]
    doc = _stored_image_document(db, tmp_path, "report.png", blocks)
    out = tmp_path / "out.pdf"
    done = _export(db, doc, out)
    assert done.layered == [0] and not done.without_positions
    words = pdfium_words(out)[0]
    assert [w.text for w in words] == ["Quarterly", "report", "Sales", "rose", "in", "every", "region.", "The", "north",
                                       "led", "the", "rest."]
    scale = 72 / 200
    for w in words:  # every word inside its block's box (in points, y up)
        inside = [b for _, b in blocks if b[0] * scale - 1 <= w.box[0] and w.box[2] <= b[2] * scale + 1
                  and 792 - b[3] * scale - 1 <= w.box[1] and w.box[3] <= 792 - b[1] * scale + 1]
        assert inside, (w.text, w.box)


def test_a_page_without_any_boxes_gets_its_text_across_the_page_and_is_named(tmp_path: Path) -> None:
    db = migrated_database(_db().url)
    doc = _stored_image_document(db, tmp_path, "plain.png", [])
    done = _export(db, doc, tmp_path / "out.pdf")
    assert done.without_positions == [0]
    first_page = [w.text for w in pdfium_words(tmp_path / "out.pdf")[0]]
    assert first_page == ["Quarterly", "report", "Sales", "rose", "in", "every", "region."]
