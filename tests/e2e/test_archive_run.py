"""`pagemill run --archive DIR`: the real command in a subprocess, real OCR; the archive folder is then read as a
user would: which files are there, under which names, and what PDFium finds in them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium

from scheduler.samples import SAMPLE_TEXTS, make_image, make_scanned_pdf
from tests.conftest import ROOT


def _run(args: list[str], data: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAGEMILL_DATA_DIR": str(data)}
    done = subprocess.run([sys.executable, "-m", "scheduler.cli", "run", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _text(path: Path) -> str:
    pdf = pdfium.PdfDocument(path)
    try:
        return " ".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def _listing(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_run_archives_searchable_pdfs_under_their_names_without_overwriting_anything(tmp_path: Path) -> None:
    inbox, archive, data = tmp_path / "in", tmp_path / "archive", tmp_path / "data"
    (inbox / "2023").mkdir(parents=True)
    archive.mkdir()
    # two different files called report.pdf (from two folders), and an image whose .pdf name a user's own file
    # already has in the archive
    make_scanned_pdf(inbox / "report.pdf", [SAMPLE_TEXTS[0]], dpi=200)
    make_scanned_pdf(inbox / "2023" / "report.pdf", [SAMPLE_TEXTS[1]], dpi=200)
    make_image(inbox / "photo.png", SAMPLE_TEXTS[2], dpi=200)
    (archive / "photo.pdf").write_bytes(b"the user's own file")

    _run(["--archive", str(archive), str(inbox)], data)

    names = sorted(p.name for p in archive.iterdir())
    assert names == ["photo (2).pdf", "photo.pdf", "report (2).pdf", "report.pdf"], names  # no temp file left
    assert (archive / "photo.pdf").read_bytes() == b"the user's own file"
    texts = {name: _text(archive / name) for name in names if name != "photo.pdf"}
    assert "Invoice" in texts["report.pdf"] + texts["report (2).pdf"]
    assert "Minutes" in texts["report.pdf"] + texts["report (2).pdf"]
    assert "Invoice" not in texts["report.pdf"] or "Minutes" not in texts["report.pdf"]  # two files, two copies
    assert "quick brown fox" in texts["photo (2).pdf"] and "farmer" in texts["photo (2).pdf"], texts

    # the same folder again: nothing is OCR'd or written again, no third copy appears
    before = _listing(archive)
    _run(["--archive", str(archive), str(inbox)], data)
    assert _listing(archive) == before

    status = subprocess.run([sys.executable, "-m", "scheduler.cli", "status"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "PAGEMILL_DATA_DIR": str(data)},
                            timeout=60)
    assert "archived   3" in status.stdout, status.stdout
