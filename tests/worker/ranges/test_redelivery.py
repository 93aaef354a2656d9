"""A redelivered range task (the broker sends the same message twice) never duplicates rows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, update

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
