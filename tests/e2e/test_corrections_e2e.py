"""A correction survives a forced OCR re-run through the real workers (`pagemill run --force`): `show` keeps
returning it, and the new OCR output waits beside it for a person to choose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models.corrections import pending_versions, save_correction
from models.db import Database
from models.tables import Document
from tests.scheduler.ui.helpers import pdf_bytes


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_a_forced_rerun_keeps_the_correction(tmp_path: Path, data_dir: Path) -> None:
    pdf = tmp_path / "memo.pdf"
    pdf.write_bytes(pdf_bytes(["The quarterly report is attached", "Second page of the memo"]))
    first = _cli("run", str(pdf))
    assert first.returncode == 0, first.stdout + first.stderr
    db = Database(f"sqlite:///{data_dir / 'pagemill.sqlite'}")
    try:
        with db.read_session() as s:
            doc_id = s.scalar(select(Document.id))
        assert doc_id is not None
        save_correction(db, doc_id, 0, "The quarterly flamingo report is attached", author="ana")

        again = _cli("run", "--force", str(pdf))
        assert again.returncode == 0, again.stdout + again.stderr

        shown = _cli("show", str(doc_id), "--page", "0")
        assert "flamingo" in shown.stdout
        assert "flamingo" in _cli("search", "flamingo").stdout
        (pending,) = pending_versions(db, doc_id, 0)
        assert "quarterly report" in pending.markdown.lower() and "flamingo" not in pending.markdown
        assert "Second page" in _cli("show", str(doc_id), "--page", "1").stdout  # the other page: new OCR
    finally:
        db.dispose()
