"""On PostgreSQL, many ranges of one document finishing at once all commit: none deadlocks on the document row."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database
from models.tables import Document, Page, PageRange, Usage
from scheduler.intake import IntakeOptions, register_file
from scheduler.samples import make_born_digital_pdf
from worker.objects import ObjectStore
from worker.pipeline import RangeOutcome, run_range
from worker.providers.base import OcrPage, OcrResult, OcrUsage, SourceDocument
from worker.settings import WorkerSettings


class _InstantProvider:
    """Answers at once with one billed page per page asked for, as a fast OCR API would."""

    name = "mistral"
    model = "mistral-ocr-latest"

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        return OcrResult(
            pages=[OcrPage(index=p, markdown=f"text of page {p}") for p in pages],
            model=self.model,
            usage=OcrUsage(pages_processed=len(pages)),
            billed=True,
        )

    def close(self) -> None:
        pass


@pytest.mark.usefixtures("production_env")
def test_ranges_of_one_document_stored_concurrently_all_finish(tmp_path: Path) -> None:
    settings = WorkerSettings()
    db = Database.from_settings()
    assert not db.is_sqlite
    db.migrate()
    objects = ObjectStore(settings.objects_dir)
    pdf = make_born_digital_pdf(tmp_path / "doc.pdf", [f"page {i}" for i in range(96)])
    range_ids = register_file(db, objects, pdf, settings, IntakeOptions(pages_per_task=2)).range_ids
    assert len(range_ids) == 48
    provider = _InstantProvider()
    outcomes: list[RangeOutcome] = []
    todo = list(range_ids)
    lock = threading.Lock()

    def work(n: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                rid = todo.pop()
            outcome = run_range(db, objects, provider, rid, worker_id=f"w{n}")  # type: ignore[arg-type]
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a deadlock shows up as a "database unavailable" retry; none may happen
    assert [o.message for o in outcomes if o.status != "done"] == []
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 96
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 96
        assert set(s.scalars(select(PageRange.status))) == {"done"}
        assert s.scalar(select(Document.status)) == "done"
    db.dispose()
