"""The archive (`--archive`, scheduler/export/archive.py): rewritten when a person corrects a page, a readable
error on the document when the archive cannot be written (and nothing half-written), a bucket as the archive,
and the names chosen for a document's copy."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select, update

from models import Database, DatabaseSettings
from models.corrections import save_correction
from models.tables import Document, Page
from scheduler.export.archive import archive_name, archive_pending, name_candidates
from scheduler.launch.submit import run
from scheduler.samples import SAMPLE_TEXTS, make_image, make_scanned_pdf
from scheduler.sweep.periodic import archive_finished
from worker.settings import WorkerSettings


def _db() -> Database:
    return Database.from_settings(DatabaseSettings())


def _doc(db: Database, doc_id: int) -> Document:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        assert doc is not None
        s.expunge(doc)
        return doc


def _text(data: bytes | Path) -> str:
    pdf = pdfium.PdfDocument(data)
    try:
        return " ".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def _one_scan(tmp_path: Path, archive: str, name: str = "letter.pdf") -> tuple[Database, int, WorkerSettings]:
    inbox = tmp_path / "in"
    inbox.mkdir(exist_ok=True)
    make_scanned_pdf(inbox / name, [SAMPLE_TEXTS[3]], dpi=200)
    settings = WorkerSettings(archive_dir=archive)
    job = run([inbox / name], settings=settings)
    doc_id = job.document_ids[0]
    return _db(), doc_id, settings


def test_a_correction_rewrites_the_archived_pdf_under_the_same_name(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    db, doc_id, settings = _one_scan(tmp_path, str(archive))
    assert [p.name for p in archive.iterdir()] == ["letter.pdf"]
    assert "Shipping note" in _text(archive / "letter.pdf")

    save_correction(db, doc_id, 0, "Shipping note corrected by Zanzibar Quartermaster", author="ana")
    assert archive_finished(db, settings) == 1  # the sweep's call: the copy was stale, it is written again
    assert [p.name for p in archive.iterdir()] == ["letter.pdf"]
    text = _text(archive / "letter.pdf")
    assert "Zanzibar Quartermaster" in text and "printer paper" not in text
    assert archive_finished(db, settings) == 0  # current now: nothing more to write


def test_an_unwritable_archive_is_a_readable_error_on_the_document_and_the_run_finishes(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    db, doc_id, settings = _one_scan(tmp_path, str(blocker / "archive"))  # the run returns: nothing raised

    doc = _doc(db, doc_id)
    assert doc.status == "done" and doc.archived_rev is None
    assert doc.archive_error and "could not write 'letter.pdf'" in doc.archive_error
    assert "Not a directory" in doc.archive_error, doc.archive_error
    with db.read_session() as s:
        assert s.scalars(select(Page.markdown).where(Page.document_id == doc_id)).one()  # the pages stay
    assert blocker.read_text() == "a file where the archive folder should be"

    # once the folder can be written (and the retry wait is over) the copy is written and the error cleared
    blocker.unlink()
    with db.write_session() as s:
        s.execute(update(Document).where(Document.id == doc_id).values(archive_next_at=None))
    assert [d for d, _ in archive_pending(db, settings).written] == [doc_id]
    assert sorted(p.name for p in (blocker / "archive").iterdir()) == ["letter.pdf"]  # no temp file left
    assert _doc(db, doc_id).archive_error is None


def test_a_missing_original_is_a_readable_error_and_nothing_is_written(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    db, doc_id, settings = _one_scan(tmp_path, str(archive))
    (archive / "letter.pdf").unlink()
    doc = _doc(db, doc_id)
    (settings.objects_dir / doc.object_path).unlink()
    save_correction(db, doc_id, 0, "changed", author="ana")  # the copy is due again

    report = archive_pending(db, settings)
    assert not report.written and [d for d, _ in report.failed] == [doc_id]
    error = _doc(db, doc_id).archive_error or ""
    assert "missing from the object store" in error, error
    assert list(archive.iterdir()) == []


def test_a_bucket_archive_gets_the_pdf_in_one_put(tmp_path: Path, moto_s3: object,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.s3_server import MotoS3, aws_env

    assert isinstance(moto_s3, MotoS3)
    for key, value in aws_env(moto_s3.endpoint, tmp_path).items():
        monkeypatch.setenv(key, value)
    bucket = moto_s3.new_bucket()
    inbox = tmp_path / "in"
    inbox.mkdir()
    make_image(inbox / "receipt.jpg", SAMPLE_TEXTS[0], fmt="JPEG", dpi=200)
    job = run([inbox / "receipt.jpg"], settings=WorkerSettings(archive_dir=f"s3://{bucket}/scans"))

    client = moto_s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["scans/receipt.pdf"]
    body = client.get_object(Bucket=bucket, Key="scans/receipt.pdf")["Body"].read()
    assert "Northwind Traders" in _text(body)
    assert _doc(_db(), job.document_ids[0]).archive_name == "receipt.pdf"


def test_names_keep_the_originals_and_count_up_on_a_clash() -> None:
    assert archive_name("Report.PDF", "application/pdf", 1) == "Report.PDF"
    assert archive_name("scan.png", "image/png", 2) == "scan.pdf"
    assert archive_name("minutes", "application/pdf", 3) == "minutes.pdf"
    assert archive_name("../../etc/.passwd", "application/pdf", 4) == "passwd.pdf"
    assert archive_name("a\x07b.tif", "image/tiff", 5) == "a_b.pdf"
    first = list(zip(range(3), name_candidates("report.pdf")))
    assert [n for _, n in first] == ["report.pdf", "report (2).pdf", "report (3).pdf"]


def test_a_partial_document_is_archived_with_the_pages_it_has_and_status_says_so(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from models.tables import PageRange
    from scheduler.cli import app
    from worker.ranges.store import finish_document

    inbox, archive = tmp_path / "in", tmp_path / "archive"
    inbox.mkdir()
    make_scanned_pdf(inbox / "two.pdf", [SAMPLE_TEXTS[0], SAMPLE_TEXTS[1]], dpi=200)
    settings = WorkerSettings(archive_dir=str(archive))
    doc_id = run([inbox / "two.pdf"], settings=settings, pages_per_task=1).document_ids[0]
    db = _db()
    # the second page's range fails after all (as when the provider gave up on it): the document is partial
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.document_id == doc_id, PageRange.first_page == 1)
                  .values(status="failed", error="the provider refused this page", error_code="provider"))
        s.execute(Page.__table__.delete().where(Page.document_id == doc_id, Page.page_index == 1))
        assert finish_document(s, doc_id) == "partial"
    assert [d for d, _ in archive_pending(db, settings).written] == [doc_id]
    pdf = pdfium.PdfDocument(archive / "two.pdf")
    try:
        first, second = (page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()
    assert "Northwind Traders" in first and second.strip() == ""  # the page it has, and the page as it was
    assert _doc(db, doc_id).archived_partial is True
    status = CliRunner().invoke(app, ["status"])
    assert "archived   1 (1 partial" in status.output, status.output
