"""`--archive` in Celery mode: `pagemill submit --archive DIR` returns at once, a `pagemill worker` OCRs the
document, and `pagemill scheduler`'s sweep (a process that never saw the option) writes the searchable PDF where
the document says it goes. Redis and PostgreSQL, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium

from scheduler.samples import SAMPLE_TEXTS, make_scanned_pdf
from tests.conftest import ROOT, start_worker, stop_process, wait_until


def test_the_scheduler_archives_what_workers_finished(production_env: dict[str, str], tmp_path: Path) -> None:
    inbox, archive = tmp_path / "in", tmp_path / "archive"
    inbox.mkdir()
    make_scanned_pdf(inbox / "minutes.pdf", [SAMPLE_TEXTS[1]], dpi=200)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    submitted = subprocess.run([sys.executable, "-m", "scheduler.cli", "submit", "--archive", str(archive),
                                str(inbox)], env=env, capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    worker = start_worker(concurrency=1, log=tmp_path / "worker.log")
    scheduler = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "scheduler", "--interval", "1"], env=env,
                                 stdout=open(tmp_path / "scheduler.log", "wb"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        written = wait_until(lambda: (archive / "minutes.pdf").exists(), timeout_s=180)
        logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "worker.log", tmp_path / "scheduler.log"))
        assert written, f"no minutes.pdf in the archive after 180 s\n{logs[-3000:]}"
    finally:
        stop_process(scheduler)
        stop_process(worker)
    assert [p.name for p in archive.iterdir()] == ["minutes.pdf"]  # no temp file left
    pdf = pdfium.PdfDocument(archive / "minutes.pdf")
    try:
        text = " ".join(pdf[0].get_textpage().get_text_range().split())
    finally:
        pdf.close()
    assert "board meeting" in text and "maintenance contract" in text, text
