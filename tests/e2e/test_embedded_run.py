"""End to end on the embedded defaults: no services, no key, real OCR through the command's direct processes
(small jobs, scheduler/launch/direct.py) and through real Celery worker processes (PAGEMILL_DIRECT_MAX_PAGES=0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import Document, DocumentName, Page, PageRange
from scheduler.launch.submit import run
from scheduler.samples import make_image, make_scanned_pdf, make_tiff, page_text
from tests.conftest import cer


def _db() -> Database:
    return Database.from_settings(DatabaseSettings())


def _pages(db: Database, doc_id: int) -> dict[int, str]:
    with db.read_session() as s:
        return dict(s.execute(select(Page.page_index, Page.markdown).where(Page.document_id == doc_id)).all())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    folder = tmp_path_factory.mktemp("in")
    known = {
        "scan.pdf": [page_text(i) for i in range(3)],
        "photo.png": [page_text(10)],
        "photo.jpg": [page_text(11)],
        "fax.tiff": [page_text(20), page_text(21)],
    }
    make_scanned_pdf(folder / "scan.pdf", known["scan.pdf"], dpi=200)
    make_image(folder / "photo.png", known["photo.png"][0], "PNG", dpi=200)
    make_image(folder / "photo.jpg", known["photo.jpg"][0], "JPEG", dpi=200)
    make_tiff(folder / "fax.tiff", known["fax.tiff"], dpi=200)
    return folder, known


@pytest.mark.parametrize("mode", ["direct", "celery"])
def test_run_ocrs_pdfs_and_images_with_known_text(
    corpus: tuple[Path, dict[str, list[str]]], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "celery":
        monkeypatch.setenv("PAGEMILL_DIRECT_MAX_PAGES", "0")
    folder, known = corpus
    job = run([folder], pages_per_task=2)
    assert job.ok
    db = _db()
    summary = {d.filename: d for d in job.summary()}
    assert set(summary) == set(known)
    for name, texts in known.items():
        doc = summary[name]
        assert doc.status == "done"
        assert doc.page_count == len(texts)
        pages = _pages(db, doc.document_id)
        assert sorted(pages) == list(range(len(texts)))
        for i, text in enumerate(texts):
            assert cer(text, pages[i]) < 0.05, (name, i, pages[i])
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 7
        # scan.pdf (3 pages, 2 per task) -> 2 ranges, fax.tiff -> 1, each image -> 1
        assert s.scalar(select(func.count()).select_from(PageRange)) == 5
        assert set(s.scalars(select(PageRange.status))) == {"done"}
        holders = set(s.scalars(select(PageRange.worker)))
        assert all(str(h).startswith("pagemill-direct-") == (mode == "direct") for h in holders), holders
        doc = s.scalar(select(Document).where(Document.filename == "scan.pdf"))
        assert doc is not None and doc.mime_type == "application/pdf" and len(doc.sha256) == 64


def test_same_content_is_not_ocrd_twice_unless_forced(tmp_path: Path) -> None:
    text = page_text(3)
    make_image(tmp_path / "a.png", text, dpi=150)
    (tmp_path / "copy of a.png").write_bytes((tmp_path / "a.png").read_bytes())
    first = run([tmp_path / "a.png"])
    assert [e.outcome for e in first.entries] == ["queued"]
    again = run([tmp_path / "copy of a.png"])
    assert [e.outcome for e in again.entries] == ["duplicate"]
    assert "already document" in (again.entries[0].note or "")
    db = _db()
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 1
        assert s.scalar(select(func.count()).select_from(PageRange)) == 1
        names = set(s.scalars(select(DocumentName.filename)))
    assert names == {"a.png", "copy of a.png"}
    forced = run([tmp_path / "a.png"], force=True)
    assert [e.outcome for e in forced.entries] == ["queued"]
    assert "forced" in (forced.entries[0].note or "")
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 1


def test_pages_limits_a_document_to_some_pages_and_later_runs_add_only_missing_ones(tmp_path: Path) -> None:
    texts = [page_text(30 + i) for i in range(5)]
    make_scanned_pdf(tmp_path / "five.pdf", texts, dpi=150)
    job = run([tmp_path / "five.pdf"], pages="0,2-3")
    doc_id = job.entries[0].document_id
    assert doc_id is not None
    db = _db()
    assert sorted(_pages(db, doc_id)) == [0, 2, 3]
    assert job.summary()[0].status == "done"
    more = run([tmp_path / "five.pdf"], pages="0-4")
    assert more.entries[0].pages_planned == 2  # pages 1 and 4 only: 0, 2, 3 are not paid for twice
    pages = _pages(db, doc_id)
    assert sorted(pages) == [0, 1, 2, 3, 4]
    assert cer(texts[4], pages[4]) < 0.05


def _corrupt_pdf(path: Path) -> None:
    make_scanned_pdf(path, ["x"], dpi=50)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _encrypted_pdf(path: Path, password: str) -> None:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    enc = pdfencrypt.StandardEncryption(password, ownerPassword="owner-" + password)
    c = canvas.Canvas(str(path), encrypt=enc)
    c.setFont("Helvetica", 14)
    c.drawString(72, 700, "Secret quarterly figures for the harbour museum")
    c.save()


def test_bad_inputs_are_failed_documents_with_typed_errors_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "notes.pdf").write_bytes(b"just some text, not a PDF at all\n" * 10)
    _corrupt_pdf(tmp_path / "broken.pdf")
    _encrypted_pdf(tmp_path / "locked.pdf", "s3cret")
    make_image(tmp_path / "good.png", page_text(40), dpi=150)
    job = run([tmp_path])
    by_name = {d.filename: d for d in job.summary()}
    assert by_name["good.png"].status == "done"
    assert {n: (d.status, d.error_code) for n, d in by_name.items() if n != "good.png"} == {
        "empty.pdf": ("failed", "empty"),
        "notes.pdf": ("failed", "unsupported"),
        "broken.pdf": ("failed", "corrupt"),
        "locked.pdf": ("failed", "encrypted"),
    }
    assert "--password" in (by_name["locked.pdf"].error or "")
    assert not job.ok
    # the original of every file is kept in the object folder
    db = _db()
    with db.read_session() as s:
        for doc in s.scalars(select(Document)):
            from worker.objects.folder import FolderStore
            from worker.settings import WorkerSettings

            assert FolderStore(WorkerSettings().objects_dir).local_path(doc.object_path).exists()
    # with the password the same file is processed
    unlocked = run([tmp_path / "locked.pdf"], password="s3cret")
    assert unlocked.summary()[0].status == "done"
    doc_id = unlocked.entries[0].document_id
    assert doc_id is not None
    assert "harbour museum" in _pages(db, doc_id)[0].lower()
