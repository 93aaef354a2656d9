"""`pagemill watch` end to end: a real process with its own embedded workers; a dropped image's text ends up
in the `pages` table, and the after-intake policies act only once results are stored."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, DocumentName, Page, Usage
from scheduler.samples import make_image, page_text
from tests.conftest import cer, stop_process, wait_until

pytestmark = pytest.mark.slow


@contextmanager
def pagemill_watch(folder: Path, data: Path, *args: str) -> Iterator[Path]:
    """`pagemill --data DATA watch FOLDER ARGS...` as a real process; yields its log file."""
    log = data.parent / "watch.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "--data", str(data), "watch", str(folder),
             "--workers", "1", *args],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        stop_process(proc, 30)
    assert proc.returncode in (0, 130), log.read_text()


def _db(data: Path) -> Database:
    db = Database.from_settings(DatabaseSettings(data_dir=data))
    db.migrate()
    return db


def _page_texts(db: Database) -> dict[str, str]:
    with db.read_session() as s:
        rows = s.execute(select(Document.filename, Page.markdown).join(Page, Page.document_id == Document.id))
        return {name: md for name, md in rows}


def test_a_dropped_image_gets_its_text_into_the_pages_table(tmp_path: Path) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    (inbox / "letters").mkdir(parents=True)
    text = page_text(21, words=25)
    with pagemill_watch(inbox, data, "--settle", "0.5") as log:
        db = _db(data)
        make_image(tmp_path / "scan.png", text)
        shutil.copy(tmp_path / "scan.png", inbox / "letters" / "scan.png")
        shutil.copy(tmp_path / "scan.png", inbox / "the same scan.png")
        assert wait_until(lambda: _page_texts(db), 90), log.read_text()
        [markdown] = _page_texts(db).values()  # one document, whichever name arrived first
        assert cer(text, markdown) < 0.1
        with db.read_session() as s:
            assert s.scalar(select(func.count()).select_from(Page)) == 1  # one OCR for both names
            assert s.scalar(select(func.count()).select_from(Usage)) == 1
            recorded = {n.filename: n.collection for n in s.scalars(select(DocumentName))}
            assert recorded == {"scan.png": "letters", "the same scan.png": None}
        logged = log.read_text()
        for line in ("arrived: letters/scan.png", "letters/scan.png is stable", "queued "):
            assert line in logged
    assert (inbox / "letters" / "scan.png").exists()  # keep is the default


def test_after_delete_removes_only_files_whose_document_is_done(tmp_path: Path) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    text = page_text(22, words=20)
    with pagemill_watch(inbox, data, "--settle", "0.5", "--after", "delete") as log:
        db = _db(data)
        make_image(inbox / "done.png", text)
        (inbox / "broken.pdf").write_bytes(b"%PDF-1.7\nnot a pdf at all\n")
        assert wait_until(lambda: not (inbox / "done.png").exists(), 90), log.read_text()
        assert "done.png" in _page_texts(db)
        with db.read_session() as s:
            assert s.scalar(select(Document.status).where(Document.filename == "done.png")) == "done"
        assert wait_until(lambda: (inbox / "failed" / "broken.pdf").exists(), 30), log.read_text()
    assert "broken.pdf: failed" in (inbox / "failed" / "broken.pdf.error.txt").read_text()

