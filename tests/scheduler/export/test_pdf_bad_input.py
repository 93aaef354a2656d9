"""Bad input to `export --format pdf`: words a little past the page's edge are pulled inside it; words far
outside it, an original whose page changed shape after OCR, a missing original, a full disk and an encrypted
original without --decrypt each give a typed, readable error, and nothing is half-written: a file already at
the target stays as it was, and no temporary file is left beside it."""

from __future__ import annotations

import errno
from pathlib import Path

import pikepdf
import pytest
from PIL import Image
from typer.testing import CliRunner

from models import Database, DatabaseSettings
from models.errors import ObjectMissing, StorageError
from scheduler.cli import app
from scheduler.export.pdf import export_pdf
from scheduler.export.pdf_layer import PageMismatch
from scheduler.launch.submit import run
from scheduler.samples import SAMPLE_TEXTS, make_scanned_pdf
from tests.results_db import migrated_database
from tests.scheduler.export.pdf_readers import NO_PDFTOTEXT, PDFTOTEXT, pdfium_words, pdftotext
from tests.scheduler.export.stored_docs import Word, store_document, words_value
from worker.objects.registry import object_store
from worker.settings import WorkerSettings

WORDS: list[Word] = [("Quarterly", 160, 160, 520, 220), ("report", 560, 160, 800, 220)]


def _db() -> Database:
    return migrated_database(Database.from_settings(DatabaseSettings()).url)


def _blank(tmp_path: Path, size: tuple[int, int] = (1700, 2200)) -> Path:
    path = tmp_path / "scan.png"
    Image.new("L", size, 255).save(path, dpi=(200, 200))
    return path


def _page(words: list[Word], width: int = 1700, height: int = 2200) -> dict[str, object]:
    """One line per word, its baseline 10 px above the box's bottom."""
    return dict(markdown=" ".join(w[0] for w in words), width=width, height=height, dpi=200, source="tesseract",
                words=words_value([(w[4] - 10, [w]) for w in words]))


def _untouched(folder: Path, target: Path, before: bytes) -> None:
    assert target.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [target.name], "a temporary file was left behind"


def test_words_a_little_past_the_edge_are_pulled_inside_the_page(tmp_path: Path) -> None:
    db = _db()
    edge = [("Quarterly", 1200, 2120, 1725, 2210), ("left", -20, 160, 200, 220)]  # 25 and 20 px past the edge
    doc = store_document(db, _blank(tmp_path), "image/png", [_page(edge)])
    out = tmp_path / "out.pdf"
    export_pdf(db, object_store(WorkerSettings()), doc, out)
    words = pdfium_words(out)[0]
    assert [w.text for w in words] == ["Quarterly", "left"]
    for w in words:  # 1700 x 2200 px at 200 dpi: 612 x 792 pt
        assert -0.01 <= w.box[0] and w.box[2] <= 612.01 and -0.01 <= w.box[1] and w.box[3] <= 792.01, w


def test_words_far_outside_the_page_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    db = _db()
    far = [*WORDS, ("elsewhere", 1900, 300, 2300, 360)]  # beyond a 1700-pixel-wide image
    doc = store_document(db, _blank(tmp_path), "image/png", [_page(far)])
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "report.pdf"
    target.write_bytes(b"the copy written yesterday")
    with pytest.raises(PageMismatch, match=r"page 1: the word 'elsewhere' lies at .* outside the 1700 x 2200"):
        export_pdf(db, object_store(WorkerSettings()), doc, target)
    _untouched(folder, target, b"the copy written yesterday")


def test_an_original_whose_page_changed_shape_after_ocr_is_refused(tmp_path: Path) -> None:
    db = _db()
    landscape = tmp_path / "edited.pdf"
    with pikepdf.new() as pdf:  # the page was read as a portrait 1700 x 2200 image; the file now holds landscape
        pdf.add_blank_page(page_size=(792, 612))
        pdf.save(landscape)
    doc = store_document(db, landscape, "application/pdf", [_page(WORDS)])
    with pytest.raises(PageMismatch, match="792 x 612 pt as shown but was read as a 1700 x 2200 pixel image"
                                           r".*changed after OCR.*--force"):
        export_pdf(db, object_store(WorkerSettings()), doc, tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()


def test_a_missing_original_is_named(tmp_path: Path) -> None:
    db = _db()
    doc = store_document(db, _blank(tmp_path), "image/png", [_page(WORDS)])
    objects = object_store(WorkerSettings())
    from models.tables import Document

    with db.read_session() as s:
        relpath = s.get(Document, doc).object_path
    objects.local_path(relpath).unlink()
    with pytest.raises(ObjectMissing, match=f"the original of document {doc} is missing from the object store"):
        export_pdf(db, objects, doc, tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()


def test_a_full_disk_leaves_the_previous_file_and_no_part_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    db = _db()
    doc = store_document(db, _blank(tmp_path), "image/png", [_page(WORDS)])
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "report.pdf"
    target.write_bytes(b"the copy written yesterday")
    real_save = pikepdf.Pdf.save

    def disk_fills_up(self: pikepdf.Pdf, filename: str, **kwargs: object) -> None:
        real_save(self, filename, **kwargs)  # the bytes reach the temporary file, then the disk is full
        with open(filename, "r+b") as f:
            f.truncate(100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pikepdf.Pdf, "save", disk_fills_up)
    with pytest.raises(StorageError, match=f"cannot write {target}: No space left on device"):
        export_pdf(db, object_store(WorkerSettings()), doc, target)
    _untouched(folder, target, b"the copy written yesterday")


@pytest.mark.slow
def test_an_encrypted_original_is_written_unencrypted_only_with_decrypt(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    plain = make_scanned_pdf(tmp_path / "plain.pdf", [SAMPLE_TEXTS[1]], dpi=200)
    with pikepdf.open(plain) as pdf:
        pdf.save(inbox / "locked.pdf", encryption=pikepdf.Encryption(user="s3cret", owner="owner-s3cret"))
    job = run([inbox], password="s3cret")
    assert job.entries[0].document_id
    doc = str(job.entries[0].document_id)
    runner = CliRunner()
    out = tmp_path / "out.pdf"

    refused = runner.invoke(app, ["export", doc, "--format", "pdf", "--out", str(out)])
    assert refused.exit_code != 0
    assert "encrypted" in refused.output and "--decrypt" in refused.output
    assert not out.exists()
    assert not list(tmp_path.glob(".out.pdf*")), "a temporary file was left behind"

    done = runner.invoke(app, ["export", doc, "--format", "pdf", "--out", str(out), "--decrypt"])
    assert done.exit_code == 0, done.output
    with pikepdf.open(out) as pdf:  # no password asked
        assert not pdf.is_encrypted and len(pdf.pages) == 1
    if not PDFTOTEXT:
        pytest.skip(NO_PDFTOTEXT)
    assert "Minutes of the board meeting" in " ".join(pdftotext(out)[0].split())

