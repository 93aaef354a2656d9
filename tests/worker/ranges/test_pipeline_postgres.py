"""On PostgreSQL, many ranges of one document finishing at once all commit: none deadlocks on the document row."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database
from models.tables import Document, Page, PageRange, Usage
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_born_digital_pdf
from tests.fakes.instant_provider import InstantProvider
from tests.worker.concurrency import run_in_threads
from worker.objects.folder import FolderStore
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


@pytest.mark.usefixtures("production_env")
def test_ranges_of_one_document_stored_concurrently_all_finish(tmp_path: Path) -> None:
    settings = WorkerSettings()
    db = Database.from_settings()
    assert not db.is_sqlite
    db.migrate()
    objects = FolderStore(settings.objects_dir)
    pdf = make_born_digital_pdf(tmp_path / "doc.pdf", [f"page {i}" for i in range(96)])
    range_ids = register_file(db, objects, pdf, settings, IntakeOptions(pages_per_task=2)).range_ids
    assert len(range_ids) == 48
    provider = InstantProvider()
    outcomes = run_in_threads(
        range_ids, 12, lambda rid, worker: run_range(db, objects, provider, rid, worker_id=worker)  # type: ignore[arg-type]
    )
    # a deadlock shows up as a "database unavailable" retry; none may happen
    assert [o.message for o in outcomes if o.status != "done"] == []
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 96
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 96
        assert set(s.scalars(select(PageRange.status))) == {"done"}
        assert s.scalar(select(Document.status)) == "done"
    db.dispose()
