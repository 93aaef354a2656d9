"""A redelivered range task (the broker sends the same message twice) never duplicates rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from models import Database, DatabaseSettings
from models.tables import Page, PageRange, Usage
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_scanned_pdf, page_text
from worker.objects.folder import FolderStore
from worker.providers.tesseract import TesseractProvider
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


class CountingProvider(TesseractProvider):
    def __init__(self) -> None:
        super().__init__()
        self.pages_sent: list[int] = []

    def ocr(self, source, pages):  # type: ignore[no-untyped-def]
        self.pages_sent.extend(pages)
        return super().ocr(source, pages)


def test_running_the_same_range_twice_writes_each_page_once(tmp_path: Path) -> None:
    settings = WorkerSettings()
    db = Database.from_settings(DatabaseSettings())
    db.migrate()
    objects = FolderStore(settings.objects_dir)
    make_scanned_pdf(tmp_path / "two.pdf", [page_text(1), page_text(2)], dpi=100)
    intake = register_file(db, objects, tmp_path / "two.pdf", settings, IntakeOptions(pages_per_task=8))
    (range_id,) = intake.range_ids
    provider = CountingProvider()

    assert run_range(db, objects, provider, range_id).status == "done"
    # the same message again, after the range was committed: nothing to do
    assert run_range(db, objects, provider, range_id).status == "skipped"
    # a redelivery after a crash between the page writes and the range update: pages exist, the range
    # is queued again; the pages are not sent to the provider again and not duplicated
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.id == range_id).values(status="queued"))
    assert run_range(db, objects, provider, range_id).status == "done"

    assert provider.pages_sent == [0, 1]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 2
        assert s.scalar(select(func.count()).select_from(Usage)) == 1
        rng = s.get(PageRange, range_id)
        assert rng is not None and rng.status == "done" and rng.attempts == 2


def test_an_answer_that_meets_a_database_outage_is_stored_once_it_is_back_not_asked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider answered (and billed); the database went away before the pages were stored. The range keeps
    the answer and stores it when the database is back, instead of a retry that would OCR (and bill) again."""
    import worker.ranges.run as run_module

    settings = WorkerSettings()
    db = Database.from_settings(DatabaseSettings())
    db.migrate()
    objects = FolderStore(settings.objects_dir)
    make_scanned_pdf(tmp_path / "two.pdf", [page_text(3), page_text(4)], dpi=100)
    intake = register_file(db, objects, tmp_path / "two.pdf", settings, IntakeOptions(pages_per_task=8))
    (range_id,) = intake.range_ids
    provider = CountingProvider()
    real_store = run_module.store_result
    outages = []

    def store_during_an_outage(*args, **kwargs):  # type: ignore[no-untyped-def]
        if len(outages) < 2:  # two tries meet the outage, the third finds the database back
            outages.append(1)
            raise OperationalError("INSERT INTO pages ...", {}, Exception("server closed the connection"))
        return real_store(*args, **kwargs)

    pauses: list[float] = []
    monkeypatch.setattr(run_module, "store_result", store_during_an_outage)
    monkeypatch.setattr(run_module.time, "sleep", pauses.append)
    assert run_range(db, objects, provider, range_id).status == "done"

    assert provider.pages_sent == [0, 1]
    # polled every second, so the answer is stored as soon as the database is back: a lease that ran out during
    # the outage would otherwise let another worker ask the provider again first (the hour soak saw it)
    assert pauses == [1.0, 1.0]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 2
        assert s.scalar(select(func.count()).select_from(Usage)) == 1
