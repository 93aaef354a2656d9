"""Hostile and broken input: one test per row of the issue's table.

Each bad file becomes a document with a typed error code and a readable message, the original is kept in the
object folder, and nothing crashes; good files that need care (encrypted with the password, multi-page TIFF)
are processed."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, Page, PageRange
from scheduler.intake.register import IntakeResult, register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_scanned_pdf, make_tiff
from tests.conftest import ROOT
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore
from worker.providers.tesseract import TesseractProvider
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


@pytest.fixture
def env(data_dir: Path) -> tuple[Database, ObjectStore]:
    db = Database.from_settings(DatabaseSettings(data_dir=data_dir))
    db.migrate()
    return db, FolderStore(data_dir / "objects")


def intake(env: tuple[Database, ObjectStore], path: Path, password: str | None = None,
           **settings: object) -> tuple[IntakeResult, Document]:
    db, objects = env
    res = register_file(db, objects, path, WorkerSettings(**settings), IntakeOptions(password=password))
    with db.read_session() as s:
        doc = s.get(Document, res.document_id)
        assert doc is not None
    # the original is kept, byte for byte, whatever was wrong with it
    assert objects.local_path(doc.object_path).read_bytes() == path.read_bytes()
    return res, doc


def assert_rejected(res: IntakeResult, doc: Document, code: str, words: str) -> None:
    assert res.outcome == "failed"
    assert (doc.status, doc.error_code) == ("failed", code)
    assert words in (doc.error or "")


def process(env: tuple[Database, ObjectStore], doc_id: int) -> dict[int, str]:
    """Run every range of the document in this process with the local engine; page index -> markdown."""
    db, objects = env
    with db.read_session() as s:
        ranges = list(s.scalars(select(PageRange.id).where(PageRange.document_id == doc_id)))
    provider = TesseractProvider(dpi=200)
    try:
        for rid in ranges:
            assert run_range(db, objects, provider, rid).status == "done"
    finally:
        provider.close()
    with db.read_session() as s:
        return dict(s.execute(select(Page.page_index, Page.markdown).where(Page.document_id == doc_id)).all())


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height 1-bit pixels, written by hand (no pixels are ever made)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width // 8 + 2) * 16, 9)  # a few rows; the header is what matters
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def encrypted_pdf(path: Path, text: str, password: str) -> Path:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), encrypt=pdfencrypt.StandardEncryption(password, canPrint=1))
    c.setFont("Helvetica", 20)
    c.drawString(72, 700, text)
    c.showPage()
    c.save()
    return path


def test_zero_byte_file_is_empty(env, tmp_path: Path) -> None:
    p = tmp_path / "nothing.pdf"
    p.write_bytes(b"")
    assert_rejected(*intake(env, p), "empty", "0 bytes")


@pytest.mark.parametrize("kind", ["zip", "executable", "text"])
def test_not_a_document_is_unsupported(env, tmp_path: Path, kind: str) -> None:
    p = tmp_path / "looks-like.pdf"  # the extension lies: the type comes from the bytes
    if kind == "zip":
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("a.txt", "hello")
        words = "ZIP"
    elif kind == "executable":
        p.write_bytes(Path(sys.executable).resolve().read_bytes()[:4096])
        words = "executable"
    else:
        p.write_text("just some notes\n" * 20)
        words = "plain text"
    assert_rejected(*intake(env, p), "unsupported", words)


def test_truncated_pdf_is_corrupt(env, tmp_path: Path) -> None:
    whole = make_scanned_pdf(tmp_path / "whole.pdf", ["first page", "second page"], dpi=60).read_bytes()
    p = tmp_path / "truncated.pdf"
    p.write_bytes(whole[: len(whole) // 2])
    assert_rejected(*intake(env, p), "corrupt", "damaged")


def test_header_only_pdf_is_corrupt(env, tmp_path: Path) -> None:
    p = tmp_path / "header-only.pdf"
    p.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    assert_rejected(*intake(env, p), "corrupt", "damaged")


def test_encrypted_pdf_without_password_then_with_it(env, tmp_path: Path) -> None:
    p = encrypted_pdf(tmp_path / "locked.pdf", "Quarterly ledger balance", "s3cret")
    assert_rejected(*intake(env, p), "encrypted", "--password")

    res, doc = intake(env, p, password="s3cret")
    assert res.outcome == "queued" and doc.page_count == 1
    pages = process(env, doc.id)
    assert "ledger" in pages[0].lower()
    db, _ = env
    with db.read_session() as s:
        assert s.get(Document, doc.id).status == "done"  # type: ignore[union-attr]
        assert "s3cret" not in repr(s.get(Document, doc.id).options)  # type: ignore[union-attr]


def test_pdf_over_the_page_limit_is_too_large(env, tmp_path: Path) -> None:
    p = make_scanned_pdf(tmp_path / "three.pdf", ["a", "b", "c"], dpi=40)
    assert_rejected(*intake(env, p, max_pages=2), "too_large", "3 pages")


def test_pdf_over_the_size_limit_is_too_large(env, tmp_path: Path) -> None:
    p = make_scanned_pdf(tmp_path / "big.pdf", ["a"], dpi=40)
    with p.open("ab") as fh:  # a comment after %%EOF: still a valid PDF, just large
        fh.write(b"%" + b"x" * (2 * 1024 * 1024) + b"\n")
    assert_rejected(*intake(env, p, max_file_mb=1), "too_large", "MB")


def test_decompression_bomb_png_is_too_large(env, tmp_path: Path) -> None:
    p = png_bomb(tmp_path / "bomb.png", 40_000, 40_000)
    assert p.stat().st_size < 100_000
    assert_rejected(*intake(env, p), "too_large", "40000x40000")


def test_decompression_bomb_is_detected_without_allocating_it(tmp_path: Path) -> None:
    """Under a 1 GiB address-space limit, decoding 40000x40000 pixels (1.6 GB) would die; inspecting must not."""
    p = png_bomb(tmp_path / "bomb.png", 40_000, 40_000)
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({1024**3}, {1024**3}))
        from pathlib import Path
        from models.errors import OversizedInput
        from worker.documents.inspect import inspect_document
        try:
            inspect_document(Path({str(p)!r}))
        except OversizedInput as err:
            print("too_large", err)
        try:
            bytearray(40_000 * 40_000)  # what decoding the bomb would need: the limit must refuse it
        except MemoryError:
            print("the limit holds")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("too_large")
    assert "the limit holds" in out.stdout  # else this test would prove nothing about allocation


def test_multi_page_tiff_is_processed_page_by_page(env, tmp_path: Path) -> None:
    texts = ["Harbour station winter report", "Museum garden budget review", "Village school kitchen record"]
    p = make_tiff(tmp_path / "fax.tiff", texts, dpi=150)
    res, doc = intake(env, p)
    assert (res.outcome, doc.mime_type, doc.page_count) == ("queued", "image/tiff", 3)
    pages = process(env, doc.id)
    assert sorted(pages) == [0, 1, 2]
    for i, keyword in enumerate(["Harbour", "Museum", "Village"]):
        assert keyword.lower() in pages[i].lower()


HOSTILE_NAMES = [
    "my scan 2024.pdf",
    "Übersicht – 日本語 résumé.pdf",
    "it's \"quoted\".pdf",
    "line\nbreak\r\tand tab.pdf",
    "..\\..\\windows-style.pdf",
    "[bold]markup $(rm -rf ~).pdf",
]


def test_hostile_file_names_are_stored_and_shown_safely(env, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scheduler.cli import app

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    db, objects = env
    for n, name in enumerate(HOSTILE_NAMES):
        p = make_scanned_pdf(src / "sub" / name, [f"page {n}"], dpi=30)
        res, doc = intake(env, src / "sub" / ".." / "sub" / p.name)  # a path with ../ in it
        assert res.outcome == "queued"
        assert doc.filename == name  # stored as given
    # nothing under the object folder is named after an input
    for f in objects.root.rglob("*"):
        if f.is_file():
            rel = f.relative_to(objects.root).as_posix()
            kind, prefix, leaf = rel.split("/")
            assert kind in ("originals", "images", "work") and leaf.startswith(prefix) and len(leaf.split(".")[0]) == 64
    out = CliRunner().invoke(app, ["status"], env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    assert "\\n" in out.output  # the newline is shown escaped, it does not break the table
    assert "[bold]markup" in out.output  # markup is printed literally, not interpreted
    assert len([line for line in out.output.splitlines() if "break" in line]) == 1
