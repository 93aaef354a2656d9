"""The Mistral path fully offline: `pagemill run` with the Mistral provider, pointed at `pagemill serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Database, DatabaseSettings
from models.tables import Image, Page
from scheduler.launch.submit import run
from scheduler.samples import make_image, make_scanned_pdf, page_text
from tests.conftest import cer
from tests.worker.serve_harness import running_server

KEY = "e2e-serve-key"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with running_server(tmp_path / "serve-data", "--workers", "2", "--api-key", KEY) as base:
        monkeypatch.setenv("PAGEMILL_PROVIDER", "mistral")
        monkeypatch.setenv("PAGEMILL_OCR_BASE_URL", base)
        monkeypatch.setenv("MISTRAL_API_KEY", KEY)
        yield base


@pytest.mark.slow
def test_mistral_provider_runs_a_batch_against_pagemill_serve(served: str, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    known = {"scan.pdf": [page_text(i) for i in range(3)], "note.png": [page_text(7)]}
    make_scanned_pdf(folder / "scan.pdf", known["scan.pdf"], dpi=200)
    make_image(folder / "note.png", known["note.png"][0], "PNG", dpi=200)

    job = run([folder], pages_per_task=2, timeout_s=240)

    summary = {d.filename: d for d in job.summary()}
    assert {name: d.status for name, d in summary.items()} == {"scan.pdf": "done", "note.png": "done"}
    db = Database.from_settings(DatabaseSettings())
    with db.read_session() as s:
        for name, texts in known.items():
            rows = s.execute(select(Page.page_index, Page.markdown, Page.source, Page.width)
                             .where(Page.document_id == summary[name].document_id)).all()
            pages = {r.page_index: r for r in rows}
            assert sorted(pages) == list(range(len(texts)))
            for i, text in enumerate(texts):
                assert cer(text, pages[i].markdown) < 0.05, (name, i, pages[i].markdown)
                assert pages[i].source == "mistral" and pages[i].width
        assert s.scalar(select(Image.id).limit(1)) is None
