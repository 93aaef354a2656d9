"""`pagemill watch --archive DIR`: a file dropped in the watched folder comes out as a searchable PDF in the
archive, written by the watch's own sweep once the embedded workers finished it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from scheduler.samples import SAMPLE_TEXTS, make_image
from tests.conftest import wait_until
from tests.scheduler.watch.test_watch_cli import pagemill_watch

pytestmark = pytest.mark.slow


def test_a_dropped_scan_is_archived_as_a_searchable_pdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, data, archive = tmp_path / "inbox", tmp_path / "data", tmp_path / "archive"
    inbox.mkdir()
    monkeypatch.setenv("PAGEMILL_SWEEP_INTERVAL_S", "1")  # the watch's sweep, which writes the copy
    with pagemill_watch(inbox, data, "--settle", "0.5", "--archive", str(archive)) as log:
        make_image(tmp_path / "note.png", SAMPLE_TEXTS[3], dpi=200)
        shutil.copy(tmp_path / "note.png", inbox / "note.png")
        assert wait_until(lambda: (archive / "note.pdf").exists(), 120), log.read_text()[-3000:]
    assert [p.name for p in archive.iterdir()] == ["note.pdf"]
    pdf = pdfium.PdfDocument(archive / "note.pdf")
    try:
        text = " ".join(pdf[0].get_textpage().get_text_range().split())
    finally:
        pdf.close()
    assert "twelve boxes of printer paper" in text, text
